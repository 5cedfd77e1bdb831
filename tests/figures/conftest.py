import pytest

from repro.figures import style


@pytest.fixture(autouse=True)
def fast_png(monkeypatch):
    """Low-resolution PNGs keep the suite fast; the files are still real images."""
    monkeypatch.setattr(style, "PNG_DPI", 60)
