"""Time the date and category filters of a dashboard page on a log aggregated out of core.

Usage:
    python benchmarks/bench_large_log_filters.py [.cache/large/log_20M_seed0.parquet]

(``benchmarks/make_large_logs.py 20M`` writes that log.) Loads the log as the dashboard
does (``load_dashboard_data``: out of core above ``SEGKIT_LARGE_LOG_LINES``), builds the
page in process with a 4-segment model, then times: the category list, the first date
filter change (DuckDB cleans the whole log once and writes the window table), later date
changes, a category and both, each through the page (``dash.filters`` widgets: engine,
selection and every panel's redraw) and the engine's part alone. Prints the figures and
writes them to ``benchmarks/results/large_log_filters.json``. The cache folder is
``.cache/large/cache`` (``SEGKIT_CACHE``); pass ``--fresh`` to remove the window table
first so the first change is measured cold.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOG = ROOT / ".cache" / "large" / "log_20M_seed0.parquet"
RESULTS = ROOT / "benchmarks" / "results" / "large_log_filters.json"


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", nargs="?", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--fresh", action="store_true", help="remove the window table first")
    args = parser.parse_args()
    os.environ.setdefault("SEGKIT_CACHE", str(args.log.parent / "cache"))
    sys.path.insert(0, str(ROOT))
    from segkit.config import Settings
    from segkit.dashboard import Dashboard, OutOfCoreData, load_dashboard_data
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import train_model

    figures: dict = {"log": args.log.name, "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    start = time.perf_counter()
    data = load_dashboard_data(args.log)
    figures["load_customers_s"] = round(time.perf_counter() - start, 2)
    assert isinstance(data, OutOfCoreData), "the log is not above SEGKIT_LARGE_LOG_LINES"
    figures.update(lines=data.n_lines, customers=len(data.customers))
    if args.fresh:
        from segkit.page.data import large_log_windows

        windows = large_log_windows(data)
        shutil.rmtree(windows.table_folder, ignore_errors=True)
        windows.categories_file.unlink(missing_ok=True)
    artifacts = Path(os.environ["SEGKIT_CACHE"]) / f"artifacts-{args.log.stem}"
    model, _ = train_model(data, 4)
    save_artifacts(model, artifacts, data.training_info())
    start = time.perf_counter()
    dash = Dashboard(data, artifacts=artifacts, settings=Settings(analyst=False), query="")
    figures["page_build_with_categories_s"] = round(time.perf_counter() - start, 2)
    state, panel = dash.state, dash.filters
    first, last = data.period
    said = []
    state.observe(lambda change: said.append(change["new"]), names="progress")

    def change(label: str, set_widgets) -> None:
        engine_before = state.large_log._results.copy()
        start = time.perf_counter()
        set_widgets()
        seconds = time.perf_counter() - start
        assert state.message == "", state.message
        figures.setdefault("changes", []).append({
            "change": label, "page_s": round(seconds, 2), "customers_shown": len(state.selection),
            "computed": len(state.large_log._results) > len(engine_before), "peak_rss_mb": peak_mb(),
            "load_average": [round(v, 2) for v in os.getloadavg()]})
        print(json.dumps(figures["changes"][-1]), flush=True)

    days = [(first + (last - first) * share).strftime("%d/%m/%Y") for share in (0.5, 0.75, 0.25, 0.9)]
    change(f"date from {days[0]} (first change)", lambda: setattr(panel.date_start, "value", days[0]))
    change(f"date from {days[1]}", lambda: setattr(panel.date_start, "value", days[1]))
    change(f"date from {days[2]}", lambda: setattr(panel.date_start, "value", days[2]))
    change(f"date to {days[3]} (from {days[2]})", lambda: setattr(panel.date_end, "value", days[3]))
    change("category Christmas (and the dates)", lambda: setattr(panel.category_filter, "value", "Christmas"))
    change("reset", lambda: panel.reset_filters.click())
    change("category Kitchen alone", lambda: setattr(panel.category_filter, "value", "Kitchen"))
    change(f"date from {days[0]} with Kitchen", lambda: setattr(panel.date_start, "value", days[0]))

    # the engine's part alone, on dates not asked before (the window table is written)
    windows = state.large_log
    engine_times = []
    for share in (0.1, 0.3, 0.6, 0.8):
        day = (first + (last - first) * share).normalize().date()
        start = time.perf_counter()
        windows.activity(day, None)
        engine_times.append(round(time.perf_counter() - start, 3))
    figures["engine_only_date_change_s"] = engine_times
    figures["progress_said"] = [t for t in said if t][:2]
    figures["peak_rss_mb"] = peak_mb()
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    figures["measured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
