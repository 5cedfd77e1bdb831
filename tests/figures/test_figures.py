"""Figure modules: JSON in, files out. The data here is synthetic: these tests check the
plotting (files, legend order, line styles, log axis, divergence, the Figure 3 diagram),
not any result."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage

from repro.figures import (
    NAMES,
    curves,
    draw,
    figure3,
    figure9,
    inputs,
    maker,
    style,
)
from repro.figures.curve_panels import FIGURE4, FIGURE5, FIGURE7, FIGURE8
from repro.figures.registry import FIGURES
from tests.figures.helpers import (
    curve_lines,
    legend_texts,
    render_without_warnings,
    synthetic_curve,
)

PAPER_ORDER = ["ADAM", "RMSprop", "SGD", "NAG", "LSTM", "LSTM-sub"]
FIGURES_DIR = Path(__file__).resolve().parents[2] / "repro" / "figures"




def synthetic_envelope(names=("LSTM", "SGD", "NAG", "ADAM", "RMSprop"), figure="figure4a"):
    """A curves envelope (design.md) with curves listed out of the paper's order."""
    curves_ = {name: synthetic_curve(1.0 + k, 0.02 * (k + 1)) for k, name in enumerate(names)}
    return {
        "figure": figure,
        "title": "Synthetic",
        "profile": "quick",
        "x": "step",
        "y": "loss",
        "curves": curves_,
        "meta": {"config": "synthetic.yaml", "seed": 3, "commit": "abcdef123456", "created": "-"},
    }


def synthetic_figure3(n_shown: int = 4, n: int = 10) -> dict:
    rng = np.random.default_rng(0)
    coords = [
        {
            "index": i,
            "theta": float(rng.normal()),
            "grad": -0.52 if i == 1 else float(rng.normal()),
            "update": 0.041 if i == 1 else float(0.05 * rng.normal()),
            "h": np.tanh(rng.normal(size=(2, 20))).tolist(),
            "h_prev": (0.5 * np.tanh(rng.normal(size=(2, 20)))).tolist(),
        }
        for i in range(n_shown)
    ]
    return {
        "figure": "figure3",
        "title": "One step of the LSTM optimizer",
        "profile": "quick",
        "step": 10,
        "problem": "synthetic quadratic",
        "n_coordinates": n,
        "coordinates": coords,
        "loss": 0.21,
        "meta": {"config": "synthetic.yaml", "seed": 0, "commit": "0123456789", "created": "-"},
    }


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def assert_outputs(folder: Path, stem: str, min_px: tuple[int, int]) -> None:
    """png + pdf exist, are valid and of sensible size, and nothing else (no temp files)."""
    assert sorted(p.name for p in folder.iterdir()) == [f"{stem}.pdf", f"{stem}.png"]
    image = mpimg.imread(folder / f"{stem}.png")
    assert image.ndim == 3 and image.shape[0] >= min_px[0] and image.shape[1] >= min_px[1]
    assert image.std() > 0.01  # not blank
    pdf = (folder / f"{stem}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:] and len(pdf) > 2000










# --- style ----------------------------------------------------------------------------


def test_style_conventions():
    assert style.ordered(["LSTM", "zeta", "SGD", "LSTM-sub", "ADAM", "NAG", "RMSprop"]) == [
        *PAPER_ORDER,
        "zeta",
    ]
    assert style.color("ADAM") == "#e41a1c" and style.color("LSTM") == "#ff7f00"
    assert len({style.color(n) for n in PAPER_ORDER}) == len(PAPER_ORDER)
    assert [style.linestyle(n) for n in PAPER_ORDER] == ["--"] * 4 + ["-"] * 2


def test_stamp_text():
    data = synthetic_envelope()
    data["meta"].update(dataset="fashion_mnist", encoder="random")
    assert style.stamp_text(data) == (
        "profile: quick · seed 3 · dataset fashion_mnist · encoder random · commit abcdef1"
    )
    assert style.stamp_text({}) == "profile: unknown"


def test_save_is_atomic_and_creates_folder(tmp_path):
    fig = style.new_figure((2, 2))
    fig.add_subplot().plot([1, 2], [3, 4])
    out = tmp_path / "new" / "folder"
    paths = style.save(fig, out / "fig.v1")
    assert paths == [out / "fig.v1.png", out / "fig.v1.pdf"]
    assert_outputs(out, "fig.v1", min_px=(110, 110))
    with pytest.raises(ValueError):
        style.save(fig, out / "bad", formats=("no-such-format",))
    assert sorted(p.name for p in out.iterdir()) == ["fig.v1.pdf", "fig.v1.png"]


# --- curves ---------------------------------------------------------------------------


def test_figure4a_conventions():
    fig = FIGURE4.build_panel(synthetic_envelope(), "figure4a")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "Quadratics"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Step", "Loss")
    assert ax.get_xlim() == (1, 100)
    assert legend_texts(ax.get_legend()) == ["ADAM", "RMSprop", "SGD", "NAG", "LSTM"]
    lines = curve_lines(ax)
    assert lines["LSTM"].get_linestyle() == "-"
    for name in ("ADAM", "RMSprop", "SGD", "NAG"):
        assert lines[name].get_linestyle() == "--"
        assert lines[name].get_color() == style.COLORS[name]
    assert any("profile: quick" in t.get_text() for t in fig.texts)
    render_without_warnings(fig)


def test_figure4a_rejects_other_figures_data():
    with pytest.raises(ValueError, match="figure4a"):
        FIGURE4.build_panel(synthetic_envelope(figure="figure5a"), "figure4a")


def test_legend_order_and_styles_with_lstm_sub():
    data = synthetic_envelope(names=("LSTM-sub", "SGD", "LSTM", "NAG", "RMSprop", "ADAM"))
    fig = curves.build_panels([data])
    ax = fig.axes[0]
    assert legend_texts(ax.get_legend()) == PAPER_ORDER
    styles = {name: line.get_linestyle() for name, line in curve_lines(ax).items()}
    assert styles == {
        "ADAM": "--",
        "RMSprop": "--",
        "SGD": "--",
        "NAG": "--",
        "LSTM": "-",
        "LSTM-sub": "-",
    }
    assert ax.get_title() == "Synthetic"


def test_steps_range_limits_the_curves():
    data = synthetic_envelope()
    data["curves"] = {k: synthetic_curve(1.0, 0.01, steps=200) for k in ("LSTM", "SGD")}
    fig = curves.build_panels([data], steps=(100, 200))
    ax = fig.axes[0]
    assert ax.get_xlim() == (100, 200)
    for line in curve_lines(ax).values():
        x = line.get_xdata()
        assert x.min() == 100 and x.max() == 200


def test_diverged_curve_stops_and_is_marked():
    data = synthetic_envelope(names=("LSTM", "SGD"))
    lstm = data["curves"]["LSTM"]
    for key in ("mean", "lo", "hi"):  # after divergence: JSON nulls (NaN / inf)
        lstm[key] = lstm[key][:40] + [None] * 60
    lstm["diverged_at"] = 40
    data["curves"]["SGD"]["diverged_at"] = None
    fig = curves.build_panels([data])
    ax = fig.axes[0]
    lines = curve_lines(ax)
    assert max(lines["LSTM"].get_xdata()) == 40
    assert max(lines["SGD"].get_xdata()) == 100
    marks = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(marks) == 1
    assert list(marks[0].get_xdata()) == [40]
    assert marks[0].get_ydata()[0] == pytest.approx(lstm["mean"][39])
    assert marks[0].get_color() == style.COLORS["LSTM"]
    assert legend_texts(ax.get_legend()) == ["SGD", "LSTM"]
    render_without_warnings(fig)


def test_band_lo_clipped_positive_for_log_axis():
    data = synthetic_envelope(names=("ADAM",))
    adam = data["curves"]["ADAM"]
    adam["lo"] = [-1.0] * len(adam["lo"])  # a symmetric interval can reach below zero
    ax = curves.build_panels([data]).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    ys = np.concatenate([p.vertices[:, 1] for p in bands[0].get_paths()])
    assert ys.min() > 0
    assert ax.get_ylim()[0] > 1e-4  # the clip does not stretch the axis over many decades


def test_panels_side_by_side_keep_their_titles():
    datas = [{**synthetic_envelope(figure=f"figure5{p}"), "title": f"Panel {k}"}
             for k, p in enumerate("ab")]
    fig = curves.build_panels(datas)
    assert [ax.get_title() for ax in fig.axes] == ["Panel 0", "Panel 1"]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    with pytest.raises(ValueError):
        curves.build_panels([synthetic_envelope()] * 4)


# --- figure 3 -------------------------------------------------------------------------


@pytest.mark.parametrize(("n_shown", "n"), [(4, 10), (5, 5)])
def test_figure3_diagram_content(n_shown, n):
    data = synthetic_figure3(n_shown=n_shown, n=n)
    fig = figure3.build_figure3(data)
    ax = fig.axes[0]
    # One 2x20 hidden-state strip (h_{t-1} over h_t) per coordinate and layer, one colour scale.
    images = [im for im in ax.get_images() if isinstance(im, AxesImage)]
    assert len(images) == 2 * n_shown
    assert all(im.get_array().shape == (2, 20) for im in images)
    assert len({im.get_clim() for im in images}) == 1
    vmin, vmax = images[0].get_clim()
    assert vmin == -vmax and vmax == pytest.approx(
        max(np.abs(c[k]).max() for c in data["coordinates"] for k in ("h", "h_prev"))
    )
    np.testing.assert_allclose(images[0].get_array()[1], data["coordinates"][0]["h"][0])
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("LSTM1") == n_shown and texts.count("LSTM2") == n_shown
    assert r"$\nabla_{2} = -0.52$" in texts  # real values, 1-based like the paper
    assert r"$g_{2} = +0.041$" in texts
    assert any("shared weights" in t for t in texts)
    assert any("step $t = 10$" in t and "synthetic quadratic" in t for t in texts)
    assert any("0.21" in t for t in texts)
    assert (r"$\cdots$" in texts) == (n_shown < n)
    assert any("profile: quick" in t.get_text() for t in fig.texts)
    render_without_warnings(fig)


def test_figure3_dots_column_at_the_gap():
    assert figure3._columns([0, 1, 2, 9], 10) == [0, 1, 2, None, 9]
    assert figure3._columns([0, 1, 2, 3], 10) == [0, 1, 2, 3, None]
    assert figure3._columns([0, 1], 2) == [0, 1]


# --- registry and purity ----------------------------------------------------------------


def test_registry_writes_each_figure(tmp_path):
    """``draw(name, data_dir, out_dir / name)``, as the CLI calls it."""
    assert {"figure3", "figure4a"} <= set(NAMES)
    data_dir, out_dir = tmp_path / "data", tmp_path / "figs"
    data_dir.mkdir()
    write_json(data_dir / "figure3.json", synthetic_figure3())
    write_json(data_dir / "figure4a.json", synthetic_envelope())
    for name in ("figure3", "figure4a"):
        draw(name, data_dir, out_dir / name / name)
    # 60 dpi in tests: figure3 is 10 x 5.2 in, figure4a 4.2 x 3.4 in.
    assert_outputs(out_dir / "figure3", "figure3", min_px=(300, 590))
    assert_outputs(out_dir / "figure4a", "figure4a", min_px=(200, 250))


def test_every_registered_name_has_a_maker_and_the_panel_tables_match():
    assert sorted(NAMES) == sorted([
        "figure3", "figure4", "figure4a", "figure4b", "figure4c", "figure5", "figure5a",
        "figure5b", "figure5c", "figure6", "figure7", "figure7a", "figure7b", "figure7c",
        "figure8", "figure8a", "figure8b", "figure9", "figure10", "figure11", "figure12",
        "figure13",
    ])
    assert all(callable(maker(name)) for name in NAMES)
    tables = {
        "figure4": FIGURE4.panels, "figure5": FIGURE5.panels, "figure7": FIGURE7.panels,
        "figure8": FIGURE8.panels, "figure9": figure9.PANELS,
    }
    for name, table in tables.items():
        assert tuple(table) == inputs(name), name
    assert all(inputs(f.name) == (f.name,) for f in FIGURES if f.name not in tables)


def test_reading_the_registry_imports_no_plotting_library():
    code = (
        "import sys, repro.figures, repro.report.model, repro.report.claims; "
        "assert not [m for m in sys.modules if m.startswith('matplotlib')]"
    )
    subprocess.run([sys.executable, "-c", code], cwd=FIGURES_DIR.parents[1], check=True)


def test_figures_import_only_plotting_libraries():
    allowed = {
        "__future__",
        "collections",
        "dataclasses",
        "functools",
        "importlib",
        "json",
        "math",
        "matplotlib",
        "numpy",
        "operator",
        "os",
        "pathlib",
        "re",
        "textwrap",
        "typing",
        "uuid",
        "repro",
    }
    for path in FIGURES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
                if name.startswith("repro"):
                    assert name.startswith("repro.figures"), f"{path.name} imports {name}"
