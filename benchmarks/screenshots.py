"""Screenshots of the dashboard in light and dark mode: docs/dashboard-light.png, -dark.png,
and one per section of the page for the dashboard guide: docs/shots/<section>.png.

    SEGKIT_REAL_DATA=/path/to/folder .venv/bin/python benchmarks/screenshots.py

Serves the dashboard on the real data (``$SEGKIT_REAL_DATA/online_retail.parquet``, or
the file given as the first argument) on a free port, with a model trained and saved
into a temporary artifacts folder first by ``segkit train`` (lifetime value with its
ranges, the backtest's evidence: the page a team gets), and photographs it in Debian's
Chromium.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from segkit.config import PROJECT_ROOT
from segkit.server import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CHARTS_DRAWN = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= 4 && plots.every(gd => gd._fullLayout && gd.data && gd.data.length > 0);
}"""

#: Sections of the page photographed on their own for docs/dashboard.md (light mode):
#: file name -> CSS selector of the section (the page's stable classes, or a chart).
SECTIONS = {
    "kpis": ".seg-kpis",
    "glossary": ".seg-glossary-box",
    "filters": ".seg-filters",
    "charts": ".seg-charts",
    "summary": ".seg-summary",
    "compare": ".seg-compare",
    "table": ".seg-customers",
    "value": ".seg-value",
    "score": ".seg-upload-box",
    "about": ".seg-model",
}


def shoot_sections(page, folder: Path) -> list[str]:
    """Photograph each of ``SECTIONS`` present on the page; returns the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, selector in SECTIONS.items():
        found = page.locator(selector)
        if found.count() == 0:
            print(f"no {selector} on the page: {name}.png not written")
            continue
        found.first.scroll_into_view_if_needed()
        found.first.screenshot(path=str(folder / f"{name}.png"))
        written.append(name)
    return written


def main(argv: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    if argv:
        data = Path(argv[0])
    else:
        folder = os.environ.get("SEGKIT_REAL_DATA", "").strip()
        if not folder:
            sys.exit("Set SEGKIT_REAL_DATA to the folder of online_retail.parquet, or pass the data file.")
        data = Path(folder) / "online_retail.parquet"
    docs = PROJECT_ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="segkit-shots-") as tmp:
        env = dict(os.environ, SEGKIT_DATA=str(data), SEGKIT_ARTIFACTS=str(Path(tmp) / "artifacts"),
                   SEGKIT_CACHE=str(Path(tmp) / "cache"))
        import subprocess

        env["SEGKIT_CLV"] = "1"
        subprocess.run([sys.executable, "-m", "segkit.cli", "train", "--data", str(data),
                        "--artifacts", env["SEGKIT_ARTIFACTS"]], env=env, check=True, stdout=subprocess.DEVNULL)
        port = serve.free_port()
        log = Path(tmp) / "voila.log"
        process = serve.start_voila(port, env, log)
        try:
            serve.wait_until_preheated(port, log, process=process)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 2900})
                page.set_default_timeout(120_000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#loading", state="detached")
                # the sections below the first screen are drawn on demand: show them all
                page.wait_for_selector(".seg-fold-show")
                page.evaluate("() => document.querySelectorAll('.seg-fold-show').forEach(b => b.click())")
                page.wait_for_function("() => !document.querySelector('.seg-fold-placeholder')")
                page.wait_for_function(CHARTS_DRAWN)
                time.sleep(1.5)
                page.screenshot(path=str(docs / "dashboard-light.png"))
                sections = shoot_sections(page, docs / "shots")
                page.locator(".seg-theme button", has_text="Dark").click()
                page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                                       ".every(gd => gd._fullLayout.paper_bgcolor === 'rgb(17,17,17)')")
                time.sleep(1.5)
                page.screenshot(path=str(docs / "dashboard-dark.png"))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"wrote {docs / 'dashboard-light.png'}, {docs / 'dashboard-dark.png'} and "
          f"{len(sections)} sections in {docs / 'shots'}")


if __name__ == "__main__":
    main(sys.argv[1:])
