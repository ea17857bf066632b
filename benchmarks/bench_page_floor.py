"""What one page load costs the browser: the segkit dashboard against the
smallest pages the same stack can serve.

The aim: ten visitors arriving together getting charts within a median of 10 s on
this 2-core machine, with the ten browsers on it too. Whatever the server does, the
browsers' own CPU has to fit in that time. This measures it, per page load, in Chromium
(CPU time of all its processes from /proc, read before and after each load), for:

- ``voila-widget``: a Voilà page holding one ipywidgets HTML widget;
- ``voila-plotly``: the same plus one plotly ``FigureWidget`` of 10 points (plotly's
  bundle served once as segkit serves it);
- ``segkit``: the dashboard on the real data with a model trained on it and its page
  snapshot prepared (as ``make run`` after ``segkit train``).

All three are served by ``segkit.server.serve``'s Voilà command (same template, pool, limits);
each page is loaded ``--loads`` times in a fresh browser context (a new visitor: no HTTP
or code cache), the first load not counted. It prints the median CPU per page, the ratio
to the plain Voilà page, and the lower bound it puts on ten visitors at once: ten pages'
browser CPU divided by the cores (shared fairly, every page finishes near the end, so the
median cannot be much below it either).

Run: ``.venv/bin/python benchmarks/bench_page_floor.py [/work/shared/data] [--loads 5]``.
Writes ``benchmarks/results/page_floor.json``.
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
RESULTS = ROOT / "benchmarks" / "results" / "page_floor.json"
VISITORS = 10

SMALL_PAGES = {
    "voila-widget": ('import ipywidgets as W\nprobe = W.HTML("ready")\nprobe.add_class("probe")\nprobe',
                     ".probe"),
    "voila-plotly": ('import ipywidgets as W\nimport plotly.graph_objects as go\n'
                     'from segkit.dashboard import figure_widget_class\n'
                     'chart = figure_widget_class()(go.Figure(go.Scatter(x=list(range(10)), y=list(range(10)))))\n'
                     'probe = W.HTML("ready")\nprobe.add_class("probe")\nW.VBox([probe, chart])',
                     ".js-plotly-plot .main-svg"),
}


def _browser_cpu_s(browser_pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of the browser processes and all their children, by pid."""
    from test_load_sessions import _children

    seconds = {}
    for pid in {p for b in browser_pids for p in [b] + _children(b)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second (a renderer of
    the previous visitor that exits in between is not counted against this one)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


async def _page_loads(url: str, ready: str, loads: int) -> list[float]:
    from playwright.async_api import async_playwright
    from dashboard_checks import show_section
    from test_browser import CHARTS_DRAWN, CHROMIUM, CHROMIUM_ARGS
    from test_load_sessions import _children

    costs = []
    async with async_playwright() as p:
        before_launch = set(_children(os.getpid()))
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        roots = [pid for pid in _children(os.getpid()) if pid not in before_launch]
        for _ in range(loads):
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(300_000)
            start = _browser_cpu_s(roots)
            await page.goto(url)
            if ready == ".seg-summary table":  # below the first screen: shown as a reader scrolls there
                await show_section(page, "segments")
                await page.wait_for_function(CHARTS_DRAWN, polling=100)
            await page.wait_for_selector(ready)
            await asyncio.sleep(1.0)  # let the last paint and idle tasks finish
            costs.append(_spent(start, _browser_cpu_s(roots)))
            await context.close()
        await browser.close()
    return costs[1:]


def _serve(notebook: Path, env: dict, folder: Path, pool: int):
    from segkit.server import serve

    port, log = serve.free_port(), folder / f"{notebook.stem}.log"
    environment = serve.voila_environment(dict(env, SEGKIT_POOL_SIZE=str(pool)))
    command = serve.voila_command(port, open_browser=False, notebook=notebook, env=environment)
    process = subprocess.Popen(command, env=environment, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               cwd=notebook.parent)
    serve.wait_until_pool_ready(port, log, pool, timeout=600, process=process)
    return process, f"http://127.0.0.1:{port}/"


def main() -> None:
    import nbformat

    from segkit.config import PROJECT_ROOT
    from segkit.page.page_cache import prepare_page_cache
    from segkit.pipeline.artifacts import read_model_card

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_folder_argument(parser)
    parser.add_argument("--loads", type=int, default=5, help="page loads per page (the first is not counted)")
    args = parser.parse_args()
    parquet = real_parquet(args.folder)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="segkit-floor-") as tmp:
        folder = Path(tmp)
        env = dict(os.environ, SEGKIT_DATA=str(parquet), SEGKIT_ARTIFACTS=str(folder / "artifacts"),
                   SEGKIT_CACHE=str(folder / "cache"), SEGKIT_POOL_FILL_DELAY="1")
        os.environ["SEGKIT_CACHE"] = env["SEGKIT_CACHE"]
        data, model = train_and_save(parquet, folder / "artifacts")
        prepare_page_cache(data, model, read_model_card(folder / "artifacts"))
        pages = {}
        for name, (source, ready) in SMALL_PAGES.items():
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
            notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            path = folder / f"{name}.ipynb"
            nbformat.write(notebook, path)
            pages[name] = (path, ready)
        pages["segkit"] = (PROJECT_ROOT / "dashboard.ipynb", ".seg-summary table")
        figures = {}
        for name, (notebook, ready) in pages.items():
            process, url = _serve(notebook, env, folder, pool=args.loads + 1)
            try:
                time.sleep(5)
                costs = asyncio.run(_page_loads(url, ready, args.loads))
            finally:
                process.terminate()
                process.wait(timeout=30)
            median = statistics.median(costs)
            figures[name] = {"browser_cpu_s": [round(c, 2) for c in costs], "median_s": round(median, 2),
                             "ten_at_once_at_least_s": round(VISITORS * median / cores, 1)}
            print(f"{name:13s} browser CPU per page load: median {median:.2f} s {figures[name]['browser_cpu_s']}; "
                  f"ten at once on {cores} cores: at least {figures[name]['ten_at_once_at_least_s']} s", flush=True)
    base = figures["voila-widget"]["median_s"]
    for name, row in figures.items():
        row["ratio_to_voila_widget"] = round(row["median_s"] / base, 2)
    print("ratios to the plain Voila page: " + ", ".join(f"{n} {r['ratio_to_voila_widget']}x" for n, r in figures.items()))
    figures.update(cores=cores, load_average_1min=round(os.getloadavg()[0], 2),
                   measured=time.strftime("%Y-%m-%dT%H:%M:%S"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
