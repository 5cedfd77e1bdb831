"""Figure 4 (NIPS / arXiv v2): learned (solid) vs hand-crafted (dashed) optimizers.

Three panels, loss (log) against step (paper.md §2.1-2.2):

* a, "Quadratics": mean loss over the test quadratics, steps 1-100;
* b, "MNIST": the base network (1 x 20 sigmoid units), steps 1-100;
* c, "MNIST, 200 steps": the same optimizer run for 200 steps though trained on 100;
  only steps 100-200 are shown.

Each panel's data is its own curves envelope (``figure4a.json`` ... ``figure4c.json``);
:func:`make_figure4` reads all three from a data folder, :func:`make_figure4_panel` draws one
panel alone. The helpers here (:func:`load_panels`, :func:`build_panels`, :func:`make_panel`)
also serve Figures 5, 7 and 8.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import curves, style

FIGURE4A_STEPS = (1, 100)
# Panel name -> (steps shown, default title when the JSON has none).
PANELS: dict[str, tuple[tuple[int, int], str]] = {
    "figure4a": (FIGURE4A_STEPS, "Quadratics"),
    "figure4b": ((1, 100), "MNIST"),
    "figure4c": ((100, 200), "MNIST, 200 steps"),
}


def check_figure(data: Mapping[str, Any], name: str) -> None:
    """Raise ValueError unless ``data`` is ``name``'s data (a missing "figure" is accepted)."""
    if data.get("figure", name) != name:
        raise ValueError(f"expected {name} data, got {data.get('figure')!r}")


def load_panels(data_dir: Path, names: Sequence[str], figure: str) -> list[dict[str, Any]]:
    """Read ``data_dir/<name>.json`` for each panel name, checking each is that panel's data.

    Raises FileNotFoundError (one line, naming every missing file) before reading any.
    """
    data_dir = Path(data_dir)
    paths = [data_dir / f"{name}.json" for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing panel data for {figure}: {', '.join(missing)}; run `make {figure}` first"
        )
    datas = [curves.load(p) for p in paths]
    for data, name in zip(datas, names, strict=True):
        check_figure(data, name)
    return datas


def composite_stamp_text(datas: Sequence[Mapping[str, Any]]) -> str:
    """One stamp for several panels: each field lists its distinct values, e.g.
    ``"profile: quick/paper · seed 0 · dataset mnist · commit abc1234"``; a field that
    some panels lack shows the others' values."""
    fields: dict[str, list[str]] = {k: [] for k in ("profile", "seed", "dataset", "encoder")}
    fields["commit"] = []
    for data in datas:
        meta = data.get("meta") or {}
        values = {
            "profile": data.get("profile", meta.get("profile", "unknown")),
            "seed": meta.get("seed"),
            "dataset": meta.get("dataset"),
            "encoder": meta.get("encoder"),
            "commit": str(meta["commit"])[:7] if meta.get("commit") else None,
        }
        for key, value in values.items():
            if value is not None and value != "" and str(value) not in fields[key]:
                fields[key].append(str(value))
    parts = [f"profile: {'/'.join(fields['profile'])}"]
    if fields["seed"]:
        parts.append(f"seed {'/'.join(fields['seed'])}")
    parts += [f"{key} {'/'.join(fields[key])}" for key in ("dataset", "encoder") if fields[key]]
    if fields["commit"]:
        parts.append(f"commit {'/'.join(fields['commit'])}")
    return " · ".join(parts)


def build_composite(
    datas: Sequence[Mapping[str, Any]],
    steps: Sequence[tuple[int, int]],
    default_titles: Sequence[str],
) -> Figure:
    """Curve panels side by side; titles from each JSON's "title" (else the default).

    The stamp lists every panel's profile, seed, dataset and commit (distinct values only),
    so panels made under different profiles or commits show it.
    """
    titled = [
        {**data, "title": data.get("title") or default}
        for data, default in zip(datas, default_titles, strict=True)
    ]
    fig = curves.build_panels(titled, list(steps))
    first = style.stamp_text(titled[0])  # build_panels stamps the first panel's profile
    for text in fig.texts:
        if text.get_text() == first:
            text.set_text(composite_stamp_text(titled))
    return fig


def build_panel(
    data: Mapping[str, Any],
    name: str,
    panels: Mapping[str, tuple[tuple[int, int], str]] = PANELS,
) -> Figure:
    """Panel ``name`` of ``panels`` (e.g. "figure4b", "figure4c") as a figure of its own."""
    check_figure(data, name)
    steps, title = panels[name]
    return build_composite([data], [steps], [title])


def build_figure4a(data: Mapping[str, Any]) -> Figure:
    """The left panel of Figure 4 from the ``figure4a`` curves envelope."""
    check_figure(data, "figure4a")
    fig = style.new_figure(curves.PANEL_SIZE)
    ax = fig.add_subplot()
    curves.plot_curves(ax, data, steps=FIGURE4A_STEPS)
    ax.set_title("Quadratics")
    ax.set_xlabel("Step")
    ax.set_ylabel("Loss")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    style.stamp(fig, data)
    return fig


def check_panels(
    datas: Sequence[Mapping[str, Any]], panels: Mapping[str, Any], figure: str
) -> None:
    """Raise ValueError unless ``datas`` are the envelopes of ``panels``, in order."""
    names = list(panels)
    if len(datas) != len(names):
        raise ValueError(f"{figure} has {len(names)} panels, got {len(datas)}")
    for data, name in zip(datas, names, strict=True):
        check_figure(data, name)


def build_panels(
    datas: Sequence[Mapping[str, Any]], panels: Mapping[str, tuple[Any, str]], figure: str
) -> Figure:
    """A composite of ``panels`` (name -> (step range, title)) from their envelopes."""
    check_panels(datas, panels, figure)
    steps, titles = zip(*panels.values(), strict=True)
    return build_composite(datas, steps, titles)


def make_panel(
    name: str, data_path: Path, out_stem: Path, panels: Mapping[str, tuple[Any, str]]
) -> None:
    """Read one panel's JSON and write it alone to ``out_stem.{png,pdf}``."""
    style.save(build_panel(curves.load(Path(data_path)), name, panels), Path(out_stem))


def build_figure4(datas: Sequence[Mapping[str, Any]]) -> Figure:
    """The three panels of Figure 4 from the figure4a, figure4b and figure4c envelopes."""
    return build_panels(datas, PANELS, "figure4")


def make_figure4(data_dir: Path, out_stem: Path) -> None:
    """Read ``data_dir/figure4{a,b,c}.json``; write ``out_stem.png`` and ``out_stem.pdf``."""
    style.save(build_figure4(load_panels(data_dir, list(PANELS), "figure4")), Path(out_stem))


def make_figure4_panel(name: str, data_path: Path, out_stem: Path) -> None:
    """Read panel ``name``'s JSON (``figure4a``, ``figure4b`` or ``figure4c``, the last showing
    steps 100-200) and write it alone to ``out_stem.png`` and ``out_stem.pdf``."""
    data = curves.load(Path(data_path))
    fig = build_figure4a(data) if name == "figure4a" else build_panel(data, name)
    style.save(fig, Path(out_stem))
