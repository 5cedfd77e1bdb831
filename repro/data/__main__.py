"""``python -m repro.data mnist --root data``: make sure an MNIST-format dataset is in place.

The files are looked for as the experiments look for them and, when missing, fetched into
``<root>/<MNIST|FashionMNIST>/raw`` (:func:`repro.data.mnist_files.ensure_mnist`). Prints the folder
that holds them; on failure prints one ``error:`` line saying why and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys

from repro.data.errors import DatasetError
from repro.data.mnist_files import DATASETS, ensure_mnist


def main(argv: list[str] | None = None) -> int:
    """Ensure the dataset named in ``argv``; 0 when its files are in place, 2 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m repro.data", description="Find or fetch an MNIST-format dataset."
    )
    parser.add_argument("name", help=f"dataset: {' or '.join(DATASETS)}")
    parser.add_argument("--root", default="data", help="the data root (default: data)")
    args = parser.parse_args(argv)
    try:
        files = ensure_mnist(args.name, args.root, download=True)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.name}: the four IDX files are in {files['train_images'].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
