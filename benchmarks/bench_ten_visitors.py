"""Ten visitors arriving together: how long they wait for the segkit dashboard against
the smallest page the same stack serves, measured in one run.

The aim (issue 22): the median wait for the dashboard's first screen at most 1.3 times the
median wait for the small page, with ten Chromium contexts arriving together on this
machine (the browsers share its cores with the servers).

Two Voilà servers run side by side with ``segkit.server.serve``'s command, template and
settings, and the same pool and cap (sized from the machine once, as ``make run`` sizes
them): the dashboard on the real data (a model trained on ``online_retail.parquet`` into a
temporary artifacts folder, the page prepared first, as ``make run`` does), and a small
notebook holding one ``ipywidgets.HTML`` with a CSS class and one plotly ``FigureWidget`` of
10 points (``segkit.dashboard.figure_widget_class()``, as ``bench_page_floor.py`` builds it).
Each round sends a burst of ten visitors to each server in turn (the order alternates
between rounds; both pools refilled and idle before every burst, so no kernel runs the
notebook during one). A visitor's wait runs from
navigation start to "page ready": on the dashboard the first screen drawn
(``dashboard_checks.FIRST_SCREEN_DRAWN``: header KPIs, filters, what the segments mean), on
the small page its chart's SVG.

Prints every wait, the median per server and round, the overall medians, their ratio and
the load average; writes ``benchmarks/results/ten_visitors.json``. The machine may be
shared: read the ratio with the load average beside it.

Run: ``.venv/bin/python benchmarks/bench_ten_visitors.py [/work/shared/data] [--rounds 3]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from real_data import add_folder_argument, real_parquet, train_and_save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
RESULTS = ROOT / "benchmarks" / "results" / "ten_visitors.json"
VISITORS = 10
TIMEOUT_MS = 420_000

SMALL_PAGE = ('import ipywidgets as W\nimport plotly.graph_objects as go\n'
              'from segkit.dashboard import figure_widget_class\n'
              'chart = figure_widget_class()(go.Figure(go.Scatter(x=list(range(10)), y=list(range(10)))))\n'
              'probe = W.HTML("ready")\nprobe.add_class("probe")\nW.VBox([probe, chart])')
SMALL_PAGE_DRAWN = "() => !!document.querySelector('.probe') && !!document.querySelector('.js-plotly-plot .main-svg')"


async def _visitor(browser, url: str, ready_js: str) -> float:
    """Seconds from navigation start to ``ready_js`` true, in a fresh context (a new visitor)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        start = time.perf_counter()
        await page.goto(url)
        await page.wait_for_function(ready_js, polling=100)
        return time.perf_counter() - start
    finally:
        await context.close()


async def _burst(url: str, ready_js: str) -> list:
    from playwright.async_api import async_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(*(_visitor(browser, url, ready_js) for _ in range(VISITORS)),
                                        return_exceptions=True)
        finally:
            await browser.close()


class Server:
    """One Voilà server started with ``serve``'s command and settings; ``taken`` counts the
    pool kernels visitors took (each is refilled: one more "is filled with" in the log)."""

    def __init__(self, name: str, env: dict, folder: Path, pool: int, notebook: Path | None = None):
        from segkit.server import serve

        self.name, self.pool, self.taken = name, pool, 0
        self.port, self.log = serve.free_port(), folder / f"{name}.log"
        if notebook is None:  # the dashboard as make run serves it: the page prepared first
            self.process = serve.start_voila(self.port, env, self.log)
        else:
            environment = serve.voila_environment(env)
            command = serve.voila_command(self.port, open_browser=False, notebook=notebook, env=environment)
            self.process = subprocess.Popen(command, env=environment, stdout=open(self.log, "w"),
                                            stderr=subprocess.STDOUT, cwd=notebook.parent)
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_ready(self) -> None:
        from segkit.server import serve

        serve.wait_until_pool_ready(self.port, self.log, self.pool, timeout=900, process=self.process,
                                    fills=1 + self.taken)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _small_notebook(folder: Path) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SMALL_PAGE)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "small" / "small.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    return path


def main() -> None:
    from dashboard_checks import FIRST_SCREEN_DRAWN

    from segkit.server.kernels import machine, pool_and_cap

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_folder_argument(parser)
    parser.add_argument("--rounds", type=int, default=3, help="bursts of ten visitors per server")
    args = parser.parse_args()
    parquet = real_parquet(args.folder)
    pool, cap = pool_and_cap(*machine())
    rounds, load = [], []
    with tempfile.TemporaryDirectory(prefix="segkit-ten-") as tmp:
        folder = Path(tmp)
        env = dict(os.environ, SEGKIT_DATA=str(parquet), SEGKIT_ARTIFACTS=str(folder / "artifacts"),
                   SEGKIT_CACHE=str(folder / "cache"), SEGKIT_POOL_SIZE=str(pool), SEGKIT_MAX_KERNELS=str(cap))
        os.environ["SEGKIT_CACHE"] = env["SEGKIT_CACHE"]
        train_and_save(parquet, folder / "artifacts")
        # One after the other: twenty kernels starting at once left one unanswered for 60 s
        # (Voilà then keeps it "starting" for good and its pool never fills).
        servers = {"segkit": (Server("segkit", env, folder, pool), FIRST_SCREEN_DRAWN)}
        servers["segkit"][0].wait_ready()
        servers["small"] = (Server("small", env, folder, pool, _small_notebook(folder)), SMALL_PAGE_DRAWN)
        try:
            for index in range(args.rounds):
                order = ["segkit", "small"] if index % 2 == 0 else ["small", "segkit"]
                row = {"round": index + 1}
                for name in order:
                    server, ready_js = servers[name]
                    for other, _ in servers.values():  # both pools refilled: no refill during a burst
                        other.wait_ready()
                    load_before = os.getloadavg()[0]
                    results = asyncio.run(_burst(server.url, ready_js))
                    server.taken += VISITORS
                    waits = sorted(round(r, 2) for r in results if not isinstance(r, BaseException))
                    errors = [repr(r)[:200] for r in results if isinstance(r, BaseException)]
                    row[name] = {"waits_s": waits, "median_s": round(statistics.median(waits), 2) if waits else None,
                                 "errors": errors, "load_average_1min_before": round(load_before, 2),
                                 "load_average_1min_after": round(os.getloadavg()[0], 2)}
                    load.append(load_before)
                    print(f"round {index + 1} {name:6s}: median {row[name]['median_s']} s, waits {waits}"
                          f"{', errors ' + str(errors) if errors else ''}; load average {load_before:.2f} before, "
                          f"{row[name]['load_average_1min_after']:.2f} after", flush=True)
                rounds.append(row)
        finally:
            for server, _ in servers.values():
                server.stop()
    medians = {name: round(statistics.median(w for r in rounds for w in r[name]["waits_s"]), 2)
               for name in ("segkit", "small")}
    ratio = round(medians["segkit"] / medians["small"], 2)
    print(f"overall median wait: segkit {medians['segkit']} s, small page {medians['small']} s; "
          f"ratio {ratio}x (aim at most 1.3x); pool {pool}, cap {cap}, {os.cpu_count()} cores; "
          f"load average before the bursts: median {statistics.median(load):.2f}, max {max(load):.2f}", flush=True)
    figures = {"rounds": rounds, "median_s": medians, "ratio": ratio, "aim_ratio": 1.3, "pool_size": pool,
               "max_kernels": cap, "cores": os.cpu_count(), "visitors": VISITORS,
               "load_average_before_bursts": {"median": round(statistics.median(load), 2), "max": round(max(load), 2)},
               "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
