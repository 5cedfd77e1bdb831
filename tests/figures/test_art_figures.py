"""Figure 8's zoom: the y axis fits the curves that stayed finite; diverged ones are named."""

from repro.figures.curve_panels import FIGURE8


def _panel(name, diverge):
    def curve(scale, diverged_at=None):
        mean = [scale * (1 + 1 / s) if diverged_at is None or s < diverged_at else None
                for s in range(1, 9)]
        if diverged_at is not None:
            mean[diverged_at - 2] = 1e20
        return {"step": list(range(1, 9)), "mean": mean, "lo": mean, "hi": mean, "n": 2,
                "lr": None, "diverged_at": diverged_at}

    curves = {"ADAM": curve(1.0), "LSTM": curve(0.5), "SGD": curve(2.0, 3 if diverge else None)}
    return {"figure": name, "title": name, "profile": "quick", "curves": curves,
            "meta": {"encoder": "random (seed 0, width 0.25)"}}


def test_figure8_zooms_to_finite_curves_and_names_the_diverged():
    fig = FIGURE8.build([_panel("figure8a", False), _panel("figure8b", True)])
    left, right = fig.axes
    assert left.get_ylim()[1] >= 2.0 * 2
    low, high = right.get_ylim()
    assert low < 0.5 and high < 10
    notes = [t.get_text() for t in right.texts]
    assert "diverged: SGD (step 3)" in notes
    assert not any("diverged" in t.get_text() for t in left.texts)
    assert any("encoder random" in t.get_text() for t in fig.texts)
