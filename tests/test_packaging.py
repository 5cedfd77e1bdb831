"""``pip install .``: the wheel holds the weights (with the official ones' licence), the kernel
source and the command; the pins of requirements.txt and environment.yml are those of
pyproject.toml (their one source)."""

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins() -> set[str]:
    """The runtime and dev requirements pyproject.toml lists."""
    project = _pyproject()["project"]
    return set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])


def test_the_wheel_holds_the_weights_the_kernel_source_and_the_command(tmp_path):
    # Built from a copy of what the wheel is made of, so that no stale build/ folder of the
    # working tree can add files and the tree is left as it was.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "repro", source / "repro",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path / "wheel")],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    weights = {f"repro/weights/{p.name}" for p in (ROOT / "repro" / "weights").glob("*.pt")}
    assert weights >= {"repro/weights/mnist_fashion_mnist.pt", "repro/weights/quadratic.pt",
                       "repro/weights/official_dm.pt"}
    assert weights <= names
    # The official optimizers' MIT licence and attribution travel with them.
    assert {"repro/weights/LICENSE.official", "repro/weights/README.md"} <= names
    assert {"repro/optimizers/kernels/lstm_cpu.cpp", "repro/optim.py"} <= names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    target = re.search(r"^l2l-repro = (\S+):(\S+)$", scripts, flags=re.MULTILINE)
    assert target, scripts
    assert callable(getattr(importlib.import_module(target[1]), target[2]))


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _environment() -> tuple[set[str], list]:
    """The pip pins of environment.yml and its conda dependencies."""
    dependencies = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict))
    return set(pip), [d for d in dependencies if isinstance(d, str)]


def test_requirements_and_environment_pin_exactly_what_pyproject_pins():
    pins = _pins()
    assert "scikit-image==0.26.0" in pins  # Neural Art's
    assert _requirements() == pins
    pip, conda = _environment()
    assert pip == pins
    python = next(d for d in conda if d.startswith("python="))
    assert _pyproject()["project"]["requires-python"].startswith(f">={python[7:]},")

