"""The HTML report in a real browser: headless Chromium loads it from disk.

The page is copied beside itself with a small script that, once the page has loaded, records
every image that did not render (``naturalWidth == 0``) on ``<body>``; ``--dump-dom`` prints the
resulting DOM and ``--screenshot`` takes a picture of the page.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from repro.report import html, model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)"
)

CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((i) => !i.complete || i.naturalWidth === 0);
  document.body.dataset.images = String(images.length);
  document.body.dataset.broken = JSON.stringify(broken.map((i) => i.getAttribute("src")));
  document.body.dataset.claimRows = String(
    document.querySelectorAll("#claims-table tr").length - 1);
});
</script>"""


def _chromium(page, tmp_path, *args: str) -> str:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=5000",
    ]
    done = subprocess.run(
        [CHROMIUM, *flags, *args, page.as_uri()], capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _rendered(page, tmp_path) -> dict:
    """What the check script recorded: images, broken images, claim rows."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    dom = _chromium(probe, tmp_path, "--dump-dom")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', body))
    return {
        "images": int(attrs["images"]),
        "broken": json.loads(attrs["broken"].replace("&quot;", '"')),
        "claim_rows": int(attrs["claim-rows"]),
    }


def test_page_renders_every_figure_and_the_claims_table(figures_root, tmp_path):
    report = model.build(figures_root)
    page = html.write(report, figures_root / "index.html")
    seen = _rendered(page, tmp_path)
    assert seen == {"images": 3, "broken": [], "claim_rows": len(report.claims)}

    shot = tmp_path / "page.png"
    _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (figures_root / "quick" / "fashion_mnist" / "figure6.png").write_bytes(b"not a png")
    assert _rendered(page, tmp_path)["broken"] == ["quick/fashion_mnist/figure6.png"]
