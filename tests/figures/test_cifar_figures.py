"""Figure 7 from synthetic JSON: panels, titles, the whole horizon, and LSTM-sub's style."""

import pytest

from repro.figures import NAMES, inputs, style
from repro.figures.curve_panels import FIGURE7
from tests.figures.helpers import curve_lines, legend_texts, synthetic_curve

TITLES = ["CIFAR-10", "CIFAR-5", "CIFAR-2"]


def envelope(name: str, title: str, sub: bool, steps: int = 300) -> dict:
    names = ["LSTM", "ADAM", "NAG", "SGD", "RMSprop", *(["LSTM-sub"] if sub else [])]
    return {
        "figure": name, "title": title, "profile": "quick", "x": "step", "y": "loss",
        "curves": {n: synthetic_curve(2.3, 0.002 * (k + 1), steps) for k, n in enumerate(names)},
        "meta": {"seed": 0, "dataset": "cifar10", "commit": "abcdef123456"},
    }


def test_figure7_three_panels_lstm_sub_on_the_subsets():
    datas = [
        envelope(name, title, sub=k > 0)
        for k, (name, title) in enumerate(zip(inputs("figure7"), TITLES, strict=True))
    ]
    fig = FIGURE7.build(datas)
    assert [ax.get_title() for ax in fig.axes] == TITLES
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert all(ax.get_xlim()[1] >= 300 for ax in fig.axes)  # the whole horizon is drawn
    paper = ["ADAM", "RMSprop", "SGD", "NAG", "LSTM"]
    assert legend_texts(fig.axes[0].get_legend()) == paper
    for ax in fig.axes[1:]:
        assert legend_texts(ax.get_legend()) == [*paper, "LSTM-sub"]
        sub = curve_lines(ax)["LSTM-sub"]
        assert sub.get_linestyle() == "-" and sub.get_color() == style.COLORS["LSTM-sub"]
    assert "dataset cifar10" in fig.texts[0].get_text()


def test_figure7_panels_are_registered_and_checked(tmp_path):
    assert {"figure7a", "figure7b", "figure7c"} <= set(NAMES)
    with pytest.raises(ValueError, match="expected figure7b data"):
        FIGURE7.build([envelope("figure7a", t, False) for t in TITLES])
    with pytest.raises(FileNotFoundError, match="figure7"):
        FIGURE7(tmp_path, tmp_path / "figure7")
