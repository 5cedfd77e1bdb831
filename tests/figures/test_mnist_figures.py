"""Figures 4 (all three panels), 5 and 6 from synthetic JSON: these tests check the plotting
(files, panels, titles, step ranges, missing data, the architecture grid and its
training-architecture markers), not any result."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from repro.figures import NAMES, figure6, inputs, maker, style
from repro.figures.curve_panels import FIGURE4, FIGURE5
from repro.figures.figure6 import make_figure6
from tests.figures.helpers import (
    curve_lines,
    legend_texts,
    render_without_warnings,
    synthetic_curve,
)

PAPER_ORDER = ["ADAM", "RMSprop", "SGD", "NAG", "LSTM"]
NAMES_SHUFFLED = ("LSTM", "SGD", "NAG", "ADAM", "RMSprop")
FIG4_TITLES = ["Quadratics", "MNIST", "MNIST, 200 steps"]
FIG5_TITLES = ["MNIST, 40 units", "MNIST, 2 layers", "MNIST, ReLU"]
WIDTHS = [5, 10, 20, 35, 50]


# --- synthetic data -----------------------------------------------------------------




def synthetic_envelope(figure: str, title: str, steps: int = 100, profile: str = "quick") -> dict:
    curves_ = {
        name: synthetic_curve(1.0 + k, 0.02 * (k + 1), steps)
        for k, name in enumerate(NAMES_SHUFFLED)
    }
    return {
        "figure": figure,
        "title": title,
        "profile": profile,
        "x": "step",
        "y": "loss",
        "curves": curves_,
        "meta": {"config": "synthetic.yaml", "seed": 3, "commit": "abcdef123456", "created": "-"},
    }


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_figure4_data(folder: Path, skip: tuple[str, ...] = ()) -> None:
    panels = zip(inputs("figure4"), FIG4_TITLES, (100, 100, 200), strict=True)
    for name, title, steps in panels:
        if name not in skip:
            write_json(folder / f"{name}.json", synthetic_envelope(name, title, steps))


def write_figure5_data(folder: Path) -> None:
    for name, title in zip(inputs("figure5"), FIG5_TITLES, strict=True):
        data = synthetic_envelope(name, title)
        if name == "figure5c":  # the ReLU LSTM diverges: nulls after step 60
            lstm = data["curves"]["LSTM"]
            for key in ("mean", "lo", "hi"):
                lstm[key] = lstm[key][:60] + [None] * 40
            lstm["diverged_at"] = 60
        write_json(folder / f"{name}.json", data)


def synthetic_figure6(train_layers: int = 1) -> dict:
    """Made-up final losses: each optimizer a power law in width, worse with depth."""
    panels = []
    for layers in (1, 2, 3):
        curves_ = {}
        for k, name in enumerate(NAMES_SHUFFLED):
            mean = (0.2 + 0.05 * k) * layers * (20 / np.array(WIDTHS)) ** 0.3
            curves_[name] = {
                "mean": mean.tolist(),
                "lo": (0.9 * mean).tolist(),
                "hi": (1.1 * mean).tolist(),
                "lr": None if name == "LSTM" else [0.1] * len(WIDTHS),
            }
        panels.append({"layers": layers, "widths": WIDTHS, "curves": curves_})
    # Diverged / missing points: SGD at width 10 with 2 layers, the LSTM at 50 with 3.
    for panel, name, i in ((panels[1], "SGD", 1), (panels[2], "LSTM", 4)):
        for key in ("mean", "lo", "hi"):
            panel["curves"][name][key][i] = None
    return {
        "figure": "figure6",
        "title": "MNIST architectures",
        "profile": "quick",
        "x": "hidden units",
        "y": "final loss",
        "train_architecture": {"layers": train_layers, "width": 20},
        "panels": panels,
        "meta": {"config": "synthetic.yaml", "seed": 0, "commit": "0123456789", "created": "-"},
    }


# --- helpers ----------------------------------------------------------------------------


def assert_outputs(folder: Path, stem: str, min_px: tuple[int, int], pdf: bool = True) -> None:
    """png (+ pdf) exist, are valid and of sensible size."""
    image = mpimg.imread(folder / f"{stem}.png")
    assert image.ndim == 3 and image.shape[0] >= min_px[0] and image.shape[1] >= min_px[1]
    assert image.std() > 0.01  # not blank
    if not pdf:
        return
    data = (folder / f"{stem}.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:] and len(data) > 2000










def capture_saves(monkeypatch, formats: tuple[str, ...]) -> list:
    """Record the figures passed to style.save, which still writes them (in ``formats``)."""
    figs: list = []
    real_save = style.save

    def save(fig, stem):
        figs.append(fig)
        return real_save(fig, stem, formats)

    monkeypatch.setattr(style, "save", save)
    return figs


@pytest.fixture
def saved(monkeypatch) -> list:
    """The figures passed to style.save (which still writes the png and the pdf)."""
    return capture_saves(monkeypatch, ("png", "pdf"))


@pytest.fixture
def saved_png(monkeypatch) -> list:
    """As ``saved``, writing only the png (faster)."""
    return capture_saves(monkeypatch, ("png",))


# --- figures 4 and 5 --------------------------------------------------------------------


def test_figure4_three_panels(tmp_path, saved):
    write_figure4_data(tmp_path / "data")
    FIGURE4(tmp_path / "data", tmp_path / "out" / "figure4")
    assert_outputs(tmp_path / "out", "figure4", min_px=(130, 480))  # 12.6 x 3.4 in at 40 dpi
    (fig,) = saved
    assert [ax.get_title() for ax in fig.axes] == FIG4_TITLES
    assert [ax.get_xlim() for ax in fig.axes] == [(1, 100), (1, 100), (100, 200)]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    for line in curve_lines(fig.axes[2]).values():  # only steps 100-200 of the 200-step run
        assert (min(line.get_xdata()), max(line.get_xdata())) == (100, 200)
    for ax in fig.axes:
        assert legend_texts(ax.get_legend()) == PAPER_ORDER
        assert curve_lines(ax)["LSTM"].get_linestyle() == "-"
        assert curve_lines(ax)["SGD"].get_linestyle() == "--"
    assert [t.get_text() for t in fig.texts] == ["profile: quick · seed 3 · commit abcdef1"]


def test_figure4_stamp_shows_mixed_profiles():
    datas = [
        synthetic_envelope(name, title, profile=profile)
        for name, title, profile in zip(
            inputs("figure4"), FIG4_TITLES, ("paper", "quick", "quick"), strict=True
        )
    ]
    datas[1]["meta"]["dataset"] = "mnist"
    fig = FIGURE4.build(datas)
    assert [t.get_text() for t in fig.texts] == [
        "profile: paper/quick · seed 3 · dataset mnist · commit abcdef1"
    ]


def test_figure5_three_panels_with_divergence(tmp_path, saved_png):
    write_figure5_data(tmp_path / "data")
    FIGURE5(tmp_path / "data", tmp_path / "out" / "figure5")
    assert_outputs(tmp_path / "out", "figure5", min_px=(130, 480), pdf=False)
    (fig,) = saved_png
    assert [ax.get_title() for ax in fig.axes] == FIG5_TITLES
    assert all(ax.get_xlim() == (1, 100) and ax.get_yscale() == "log" for ax in fig.axes)
    relu = fig.axes[2]
    assert max(curve_lines(relu)["LSTM"].get_xdata()) == 60
    marks = [line for line in relu.get_lines() if line.get_marker() == "x"]
    assert [list(m.get_xdata()) for m in marks] == [[60]]
    assert not any(line.get_marker() == "x" for ax in fig.axes[:2] for line in ax.get_lines())
    render_without_warnings(fig)


@pytest.mark.parametrize(
    ("maker", "figure", "missing"),
    [
        (FIGURE4, "figure4", "figure4b"),
        (FIGURE5, "figure5", "figure5c"),
    ],
)
def test_missing_panel_names_the_file(tmp_path, maker, figure, missing):
    data_dir = tmp_path / "data"
    if figure == "figure4":
        write_figure4_data(data_dir, skip=(missing,))
    else:
        write_figure5_data(data_dir)
        (data_dir / f"{missing}.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        maker(data_dir, tmp_path / "out" / figure)
    message = str(info.value)
    assert str(data_dir / f"{missing}.json") in message
    assert f"make {figure}" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_panel_data_of_another_figure_is_rejected(tmp_path):
    data_dir = tmp_path / "data"
    write_figure4_data(data_dir)
    write_json(data_dir / "figure4c.json", synthetic_envelope("figure5c", "MNIST, ReLU"))
    with pytest.raises(ValueError, match="figure4c"):
        FIGURE4(data_dir, tmp_path / "out" / "figure4")


# --- figure 6 ---------------------------------------------------------------------------


def training_marks(ax) -> tuple[list[float], list[float]]:
    """x of the vertical and y of the horizontal training-architecture lines on ``ax``."""
    v = [line.get_xdata()[0] for line in ax.get_lines() if line.get_label() == "_training width"]
    h = [
        line.get_ydata()[0]
        for line in ax.get_lines()
        if line.get_label() == "_LSTM at training architecture"
    ]
    return v, h


def test_figure6_panels_and_training_architecture(tmp_path, saved):
    data = synthetic_figure6()
    make_figure6(write_json(tmp_path / "figure6.json", data), tmp_path / "out" / "figure6")
    assert_outputs(tmp_path / "out", "figure6", min_px=(130, 500))
    (fig,) = saved
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["1 layer", "2 layers", "3 layers"]
    assert all(ax.get_yscale() == "log" for ax in axes)
    assert all(list(ax.get_xticks()) == WIDTHS for ax in axes)
    assert (axes[0].get_xlabel(), axes[0].get_ylabel()) == ("Hidden units", "Final loss")
    lstm_at_20 = data["panels"][0]["curves"]["LSTM"]["mean"][2]
    assert training_marks(axes[0]) == ([20], [pytest.approx(lstm_at_20)])
    assert training_marks(axes[1]) == training_marks(axes[2]) == ([], [])
    (legend,) = fig.legends
    assert legend_texts(legend) == [*PAPER_ORDER, "trained on\n1×20"]
    assert any("profile: quick" in t.get_text() for t in fig.texts)
    render_without_warnings(fig)


def test_figure6_lines_styles_and_error_bars():
    data = synthetic_figure6()
    ax = figure6.build_figure6(data).axes[0]
    lines = curve_lines(ax)
    assert list(lines) == PAPER_ORDER
    for name, line in lines.items():
        assert line.get_color() == style.COLORS[name]
        assert line.get_linestyle() == ("-" if name == "LSTM" else "--")
        assert line.get_marker() == "o"
        np.testing.assert_allclose(line.get_ydata(), data["panels"][0]["curves"][name]["mean"])
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(bars) == len(PAPER_ORDER)
    adam = data["panels"][0]["curves"]["ADAM"]
    segments = sorted(bars[0].get_segments(), key=lambda s: s[0, 0])
    np.testing.assert_allclose([s[:, 1].min() for s in segments], adam["lo"])
    np.testing.assert_allclose([s[:, 1].max() for s in segments], adam["hi"])


def test_figure6_null_points_are_skipped():
    fig = figure6.build_figure6(synthetic_figure6())
    sgd = curve_lines(fig.axes[1])["SGD"]
    lstm = curve_lines(fig.axes[2])["LSTM"]
    assert np.isnan(sgd.get_ydata()[1]) and np.isfinite(np.delete(sgd.get_ydata(), 1)).all()
    assert np.isnan(lstm.get_ydata()[4]) and np.isfinite(lstm.get_ydata()[:4]).all()
    # no error bar at a skipped point
    green = to_rgba(style.COLORS["SGD"])
    sgd_bars = [
        c
        for c in fig.axes[1].collections
        if isinstance(c, LineCollection) and tuple(c.get_color()[0]) == green
    ]
    xs = sorted(s[0, 0] for c in sgd_bars for s in c.get_segments())
    assert xs == [5, 20, 35, 50]


def test_figure6_markers_follow_the_training_depth():
    data = synthetic_figure6(train_layers=2)
    data["panels"][1]["curves"]["LSTM"]["mean"][2] = None  # LSTM missing at the training width
    fig = figure6.build_figure6(data)
    assert training_marks(fig.axes[0]) == ([], [])
    assert training_marks(fig.axes[1]) == ([20], [])  # width marked, no LSTM loss to mark
    assert legend_texts(fig.legends[0])[-1] == "trained on\n2×20"


def test_figure6_rejects_bad_data():
    data = synthetic_figure6()
    data["panels"][0]["curves"]["ADAM"]["mean"] = [0.5, 0.4]
    with pytest.raises(ValueError, match="ADAM"):
        figure6.build_figure6(data)
    with pytest.raises(ValueError, match="figure6"):
        figure6.build_figure6({**synthetic_figure6(), "figure": "figure5a"})


# --- registry ---------------------------------------------------------------------------


def test_registry_single_panels_and_composites(tmp_path, saved_png):
    saved = saved_png
    data_dir, out_dir = tmp_path / "data", tmp_path / "figs"
    write_figure4_data(data_dir)
    write_figure5_data(data_dir)
    write_json(data_dir / "figure6.json", synthetic_figure6())
    assert inputs("figure4") == ("figure4a", "figure4b", "figure4c")
    assert inputs("figure5") == ("figure5a", "figure5b", "figure5c")
    assert maker("figure4") is FIGURE4
    assert maker("figure5") is FIGURE5
    names = ["figure4b", "figure4c", "figure5a", "figure5b", "figure5c", "figure6"]
    assert {"figure3", "figure4a", *names} <= set(NAMES)
    for name in names:
        maker(name)(data_dir / f"{name}.json", out_dir / name)
        assert_outputs(out_dir, name, min_px=(130, 160), pdf=False)
    titles = [fig.axes[0].get_title() for fig in saved[:5]]
    assert titles == ["MNIST", "MNIST, 200 steps", *FIG5_TITLES]
    assert saved[1].axes[0].get_xlim() == (100, 200)
    assert saved[0].axes[0].get_xlim() == (1, 100)
    assert len(saved[5].axes) == 3
    with pytest.raises(ValueError, match="figure4b"):
        maker("figure4b")(data_dir / "figure4c.json", out_dir / "wrong")


# --- the paper's values and the official code's optimizer ----------------------------


def _paper_marks(ax) -> list:
    return [line for line in ax.get_lines() if line.get_label() == "_paper"]


def test_the_papers_values_are_hollow_markers_in_each_optimizers_colour():
    data = synthetic_envelope("figure4c", "MNIST, 200 steps", steps=200)
    data["paper"] = {"steps": [100, 120, 200, 300],
                     "loss": {"LSTM": [0.25, 0.23, 0.21, 0.2], "NAG": [0.32, None, 0.26, 0.2]}}
    fig = FIGURE4.build_panel(data, "figure4c")
    (ax,) = fig.axes
    marks = {to_rgba(line.get_markeredgecolor()): line for line in _paper_marks(ax)}
    assert set(marks) == {to_rgba(style.color("LSTM")), to_rgba(style.color("NAG"))}
    lstm = marks[to_rgba(style.color("LSTM"))]
    assert list(lstm.get_xdata()) == [100, 120, 200]  # step 300 lies outside the panel
    assert list(lstm.get_ydata()) == [0.25, 0.23, 0.21]
    assert lstm.get_markerfacecolor() == "none" and lstm.get_linestyle() == "None"
    assert list(marks[to_rgba(style.color("NAG"))].get_xdata()) == [100, 200]  # null left out
    assert style.PAPER_LABEL in legend_texts(ax.get_legend())


def test_a_panel_without_the_papers_values_has_no_markers_and_no_legend_entry():
    fig = FIGURE4.build_panel(synthetic_envelope("figure4b", "MNIST"), "figure4b")
    (ax,) = fig.axes
    assert _paper_marks(ax) == [] and style.PAPER_LABEL not in legend_texts(ax.get_legend())


def test_the_official_curve_is_black_dotted_and_listed_after_ours():
    official = "LSTM (official code's φ)"
    data = synthetic_envelope("figure4b", "MNIST")
    data["curves"][official] = synthetic_curve(0.5, 0.05)
    fig = FIGURE4.build_panel(data, "figure4b")
    (ax,) = fig.axes
    line = curve_lines(ax)[official]
    assert to_rgba(line.get_color()) == to_rgba("#000000")
    dashes = {name: curve.get_dashes() if hasattr(curve, "get_dashes") else
              curve._unscaled_dash_pattern for name, curve in curve_lines(ax).items()}
    assert dashes[official] not in (dashes["LSTM"], dashes["NAG"])  # neither solid nor dashed
    assert legend_texts(ax.get_legend()) == [*PAPER_ORDER, official]
