"""Scale benchmark: large logs, out-of-core features beside pandas, training and scoring at 1M customers.

In one run:
1. writes synthetic logs of each size (``segkit.ingest.sample.write_large_log``, default 10M and
   100M lines) to a folder outside git, timing each;
2. per size, computes customer features out of core (DuckDB, ``segkit.engines.outofcore``) and
   through the pandas path (the steps of ``load_customer_data``: read, canonical columns,
   clean, features), each in its own child process whose peak memory (max RSS) is read
   from ``wait4``; the pandas child runs under an address-space cap (``RLIMIT_AS``) so it
   cannot take the machine down, and reports the stage where it ran out of memory;
3. on the customer table of the largest log (~1M customers): KMeans against
   MiniBatchKMeans (same K) at several sizes - fit time, inertia on all points, adjusted
   Rand index between the labelings, silhouette on a 10,000 sample - then
   ``SegmentationModel.fit``, ``evaluate_k`` on its sample, and scoring (``segment``);
4. the dashboard at 1.03M customers (``--dashboard``; a synthetic table resampled from the
   built-in sample, so no log is needed): the page's kernel time for a filter change
   (every panel, widget state serialised; the browser's drawing is not included), with
   the 2D scatter as 50,000 sampled WebGL points (the former 2D figure) and as a density
   image (now): two pages in one process, changed in turn, wall and CPU seconds (CPU
   time does not grow with other processes' load), medians of ``--repeats`` changes (at
   least 6); then Chromium (if there) parsing and drawing the two kinds of 2D chart.

Prints medians where it repeats and writes everything as JSON. Usage:
    nice -n 10 python benchmarks/bench_scale.py [--sizes 10M 100M] [--folder DIR] [--reuse]
        [--memory-limit 3GB] [--pandas-cap-gb 20] [--k 5] [--repeats 3] [--json OUT] [--delete]
    python benchmarks/bench_scale.py --dashboard-only [--repeats 7]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_large_logs import DEFAULT_FOLDER, log_path, parse_size  # noqa: E402

GB = 1e9
TRAIN_SIZES = (50_000, 100_000, 200_000, 500_000, 1_000_000)
#: Larger tables made by resampling the real ~1M (with a little noise), timed once each.
RESAMPLED_SIZES = (2_000_000, 4_000_000)


# --------------------------------------------------------------------------- children


def child_generate(path: str, n_lines: str, seed: str) -> dict:
    from segkit.ingest.sample import write_large_log

    start = time.perf_counter()
    write_large_log(path, int(n_lines), seed=int(seed))
    return {"seconds": time.perf_counter() - start, "bytes": Path(path).stat().st_size}


def child_outofcore(path: str, memory_limit: str, out: str, spill: str) -> dict:
    from segkit.features.out_of_core import customer_features_out_of_core

    start = time.perf_counter()
    customers = customer_features_out_of_core(path, memory_limit=memory_limit, temp_directory=spill)
    seconds = time.perf_counter() - start
    customers.to_parquet(out)
    return {"seconds": seconds, "customers": len(customers)}


def child_pandas(path: str, compare_with: str) -> dict:
    """The steps of ``load_customer_data``, one by one, keeping what it keeps."""
    import pandas as pd

    from segkit.clean import clean_transactions
    from segkit.features.customers import customer_features
    from segkit.ingest.load import standardise_columns
    from segkit.ingest.readers import read_raw

    seconds: dict[str, float] = {}
    stage = "read parquet"
    try:
        for stage in ("read parquet", "canonical columns", "clean", "features"):
            emit({"stage": stage})
            start = time.perf_counter()
            if stage == "read parquet":
                raw = read_raw(Path(path), None)
            elif stage == "canonical columns":
                transactions = standardise_columns(raw, {}, source=Path(path).name)
                del raw
            elif stage == "clean":
                lines, report = clean_transactions(transactions)
            else:
                customers = customer_features(lines)
            seconds[stage] = time.perf_counter() - start
            emit({"stage_done": stage, "seconds": seconds[stage],
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB})
    except Exception as exc:  # MemoryError, ArrowMemoryError, bad_alloc wrapped by pandas
        return {"failed_at": stage, "error": type(exc).__name__, "message": str(exc).splitlines()[0][:200],
                "stage_seconds": seconds}
    result = {"seconds": sum(seconds.values()), "stage_seconds": seconds, "customers": len(customers)}
    if compare_with and Path(compare_with).exists():
        other = pd.read_parquet(compare_with)
        other.index = other.index.astype("string")
        pd.testing.assert_frame_equal(other, customers, check_exact=False, atol=0.01, rtol=0)
        result["same_as_out_of_core"] = True
    return result


def child_train(customers_path: str, k: str, repeats: str) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from segkit.modeling.model import (
        FEATURE_PRESETS,
        MINIBATCH_ABOVE,
        SegmentationModel,
        evaluate_k,
        log_step,
    )

    k, repeats = int(k), int(repeats)
    customers = pd.read_parquet(customers_path)
    customers.index = customers.index.astype("string")
    features = list(FEATURE_PRESETS["default"].features)
    X_all = np.asarray(Pipeline([("log1p", log_step()), ("scaler", StandardScaler())])
                       .fit_transform(customers[features].astype("float64")))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X_all))
    out: dict = {"customers": len(customers), "k": k, "features": features, "comparison": []}
    plan = [(n, False) for n in TRAIN_SIZES if n < len(X_all)] + [(len(X_all), False)]
    plan += [(n, True) for n in RESAMPLED_SIZES if n > len(X_all)]
    for n, resampled in plan:
        if resampled:
            X = X_all[rng.integers(0, len(X_all), n)] + rng.normal(0, 0.01, (n, X_all.shape[1]))
        else:
            X = X_all[np.sort(order[:n])]
        row: dict = {"n": n, "resampled": resampled}
        labels = {}
        for name, make in (
            ("KMeans", lambda: KMeans(n_clusters=k, random_state=42, n_init=10)),
            ("MiniBatchKMeans", lambda: MiniBatchKMeans(n_clusters=k, random_state=42, n_init=10, batch_size=4096)),
        ):
            times = []
            for _ in range(1 if resampled else repeats):
                start = time.perf_counter()
                fitted = make().fit(X)
                times.append(time.perf_counter() - start)
            labels[name] = fitted.labels_
            row[name] = {
                "seconds": times, "median_seconds": statistics.median(times),
                "inertia": float(-fitted.score(X)),
                "silhouette_10k": float(silhouette_score(X, fitted.labels_, sample_size=min(10_000, n), random_state=0)),
            }
        row["ari"] = float(adjusted_rand_score(labels["KMeans"], labels["MiniBatchKMeans"]))
        row["speedup"] = row["KMeans"]["median_seconds"] / row["MiniBatchKMeans"]["median_seconds"]
        row["inertia_ratio"] = row["MiniBatchKMeans"]["inertia"] / row["KMeans"]["inertia"]
        out["comparison"].append(row)
        emit({"compared": n, "speedup": row["speedup"], "inertia_ratio": row["inertia_ratio"], "ari": row["ari"]})

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model = SegmentationModel(n_clusters=k).fit(customers)
        times.append(time.perf_counter() - start)
    out["segkit_fit"] = {"estimator": type(model.pipeline_.named_steps["kmeans"]).__name__,
                         "minibatch_above": MINIBATCH_ABOVE, "seconds": times,
                         "median_seconds": statistics.median(times), "metrics": model.metrics_}
    start = time.perf_counter()
    table = evaluate_k(customers)
    out["evaluate_k"] = {"seconds": time.perf_counter() - start, "sample_size": int(table.attrs["sample_size"]),
                         "k_values": [int(v) for v in table.index], "n_bootstrap": 5}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        scored = model.segment(customers)
        times.append(time.perf_counter() - start)
    out["scoring"] = {"customers": len(scored), "seconds": times, "median_seconds": statistics.median(times)}
    return out


DASHBOARD_CUSTOMERS = 1_030_000


def synthetic_customers(n: int, seed: int = 0):
    """``OutOfCoreData`` of ``n`` customers resampled from the built-in sample (counts and
    spend jittered by a few per cent, so customers do not sit on the same points)."""
    from dataclasses import fields

    import numpy as np
    import pandas as pd

    from segkit.page.data import OutOfCoreData
    from segkit.pipeline.workflow import CustomerData, load_customer_data

    sample = load_customer_data(None)
    rng = np.random.default_rng(seed)
    customers = sample.customers.iloc[rng.integers(0, len(sample.customers), n)].copy()
    customers.index = pd.Index([f"S{i:07d}" for i in range(n)], dtype="string", name=customers.index.name)
    for column in ("TotalQuantity", "TotalSpend", "AvgOrderValue"):
        jittered = customers[column].to_numpy(dtype=float) * rng.lognormal(0.0, 0.05, n)
        customers[column] = jittered.round().astype(customers[column].dtype) if customers[column].dtype.kind == "i" \
            else jittered.round(2)
    values = {f.name: getattr(sample, f.name) for f in fields(CustomerData)}
    values.update(source=f"synthetic ({n:,} customers resampled from the sample)", is_sample=False,
                  transactions=None, lines=None, customers=customers)
    data = OutOfCoreData(**values)
    data.n_lines = 30_000_000
    return data


def child_dashboard(n: str, repeats: str) -> dict:
    """Kernel time of filter changes on the page at ``n`` customers: 2D scatter as points, then as a density."""
    import tempfile

    from segkit.config import Settings
    from segkit.dashboard import Dashboard, scatter
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import train_model

    n, repeats = int(n), max(int(repeats), 6)
    start = time.perf_counter()
    data = synthetic_customers(n)
    model, _ = train_model(data, 5)
    out: dict = {"customers": len(data.customers), "prepare_seconds": time.perf_counter() - start}
    artifacts = Path(tempfile.mkdtemp(prefix="segkit-bench-dashboard-"))
    save_artifacts(model, artifacts, data.training_info())

    def points_2d(panel):  # the former 2D figure: a fixed sample of 50,000 WebGL points
        if not len(panel.state.selection):
            return scatter.empty_figure()
        return scatter.plots.scatter_2d(panel._points(50_000), x=panel.x_axis.value, y=panel.y_axis.value,
                                        log_axes=panel.log_axes.value, template=scatter.FIGURE_TEMPLATE,
                                        point_budget=50_000, segments=panel.state.segment_names,
                                        currency=panel.state.currency)

    density_2d = scatter.ScatterPanel._figure_2d
    pages, timings = {}, {}
    for mode, figure_2d in (("points", points_2d), ("density", density_2d)):
        scatter.ScatterPanel._figure_2d = figure_2d
        start = time.perf_counter()
        page = Dashboard(data, artifacts=artifacts, settings=Settings(currency="£", analyst=False), query="")
        timings[mode] = {"page_build_seconds": time.perf_counter() - start, "filter_change_seconds": [],
                         "filter_change_cpu_seconds": [], "scatter_seconds": [], "scatter_cpu_seconds": [],
                         "customers_shown": []}
        page.scatter._figure_2d = types.MethodType(figure_2d, page.scatter)
        show = page.scatter.show

        def timed_show(show=show, m=timings[mode]):
            begin, cpu = time.perf_counter(), time.process_time()
            show()
            m["scatter_seconds"].append(time.perf_counter() - begin)
            m["scatter_cpu_seconds"].append(time.process_time() - cpu)
        page.scatter.show = timed_show  # the state calls it through a lambda that looks it up
        pages[mode] = page
    scatter.ScatterPanel._figure_2d = density_2d
    segments = pages["density"].state.segment_names
    for i in range(repeats):  # as the browser test: some segments, then all, and again; the modes in turn
        chosen = segments[: 1 + i % (len(segments) - 1)] if i % 2 == 0 else segments
        for mode, page in pages.items():
            begin, cpu = time.perf_counter(), time.process_time()
            page.filters.segment_filter.value = tuple(chosen)  # what the user's choice does
            timings[mode]["filter_change_seconds"].append(time.perf_counter() - begin)
            timings[mode]["filter_change_cpu_seconds"].append(time.process_time() - cpu)
            timings[mode]["customers_shown"].append(len(page.state.selection))
            assert page.state.message == "", page.state.message
    for mode, page in pages.items():
        m, figure = timings[mode], page.scatter.chart.widget
        m.update(median_seconds=statistics.median(m["filter_change_seconds"]),
                 median_cpu_seconds=statistics.median(m["filter_change_cpu_seconds"]),
                 scatter_median_seconds=statistics.median(m["scatter_seconds"]),
                 scatter_median_cpu_seconds=statistics.median(m["scatter_cpu_seconds"]),
                 points_sent=sum(len(t.x) for t in figure.data if t.type == "scattergl" and t.x is not None),
                 image_bytes=len(figure.layout.images[0].source) if figure.layout.images else 0)
        out[mode] = m
        emit({"dashboard": mode, "median_seconds": m["median_seconds"]})
    out["browser"] = browser_draw(pages, points_2d, repeats)
    out["load_average"] = os.getloadavg()
    return out


CHROMIUM = Path("/usr/bin/chromium")
#: Draws a figure sent as JSON text (as the chart widget receives it) and waits for the next frame.
DRAW = """async (text) => {
  const start = performance.now();
  const fig = JSON.parse(text);
  await Plotly.react(document.getElementById('chart'), fig.data, fig.layout);
  await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return (performance.now() - start) / 1000;
}"""


def browser_draw(pages: dict, points_2d, repeats: int) -> dict:
    """Seconds Chromium (headless, software WebGL, as the browser tests) takes to parse and
    draw the 2D chart of two views (some segments, then all) in turn, as points and as a
    density: the part of a redraw the kernel timings leave out. Plotly's own bundle, no
    Voilà; medians."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not CHROMIUM.is_file():
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    import plotly

    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    texts: dict[str, list[str]] = {"points": [], "density": []}
    segments = pages["density"].state.segment_names
    for chosen in (segments[:2], segments):
        for mode, page in pages.items():
            page.filters.segment_filter.value = tuple(chosen)
            panel = page.scatter
            figure = points_2d(panel) if mode == "points" else type(panel)._figure_2d(panel)
            figure.update_layout(template="plotly_white", height=430, width=720)
            texts[mode].append(figure.to_json())
    seconds: dict[str, list[float]] = {"points": [], "density": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1500, "height": 1000})
        tab.set_content('<div id="chart" style="width:720px;height:430px"></div>')
        tab.add_script_tag(path=str(bundle))
        for mode in texts:
            tab.evaluate(DRAW, texts[mode][0])  # first draw of each kind (WebGL context, image decoder)
        for i in range(max(repeats, 6)):
            for mode in texts:
                seconds[mode].append(tab.evaluate(DRAW, texts[mode][(i + 1) % 2]))
        browser.close()
    return {mode: {"seconds": seconds[mode], "median_seconds": statistics.median(seconds[mode]),
                   "json_bytes": [len(t) for t in texts[mode]]} for mode in seconds}


CHILDREN = {"generate": child_generate, "outofcore": child_outofcore, "pandas": child_pandas, "train": child_train,
            "dashboard": child_dashboard}


def emit(message: dict) -> None:
    print(json.dumps(message), flush=True)


# --------------------------------------------------------------------------- parent


def run_child(mode: str, *args, cap_bytes: int | None = None, echo=None) -> dict:
    """Run one measurement in a fresh process; its own peak RSS comes from wait4."""
    def limit():
        os.nice(0)
        if cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, *map(str, args)],
                            stdout=subprocess.PIPE, text=True, preexec_fn=limit)
    messages = []
    for line in proc.stdout:
        if line.startswith("{"):
            messages.append(json.loads(line))
            if echo:
                echo(messages[-1])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = dict(messages[-1]) if messages and "result" in messages[-1] else {}
    result = result.get("result", {})
    result.update({"wall_seconds": time.perf_counter() - start, "peak_rss_gb": usage.ru_maxrss * 1024 / GB,
                   "exit_code": proc.returncode})
    if proc.returncode != 0 and "failed_at" not in result:
        stages = [m["stage"] for m in messages if "stage" in m]
        result["failed_at"] = stages[-1] if stages else "start"
        result["error"] = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    return result


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GB
    return float("nan")


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else str(n)


def dashboard_benchmark(repeats: int) -> dict:
    print(f"\ndashboard at {DASHBOARD_CUSTOMERS:,} customers: filter changes, kernel time (medians):", flush=True)
    r = run_child("dashboard", DASHBOARD_CUSTOMERS, repeats)
    if r["exit_code"] != 0:
        print(f"  dashboard FAILED: {r.get('error')}")
        return r
    for mode in ("points", "density"):
        m = r[mode]
        what = (f"{m['points_sent']:,} WebGL points" if mode == "points"
                else f"a {m['image_bytes'] / 1000:,.0f} kB PNG image")
        print(f"  2D scatter as {mode:<7}: filter change {m['median_seconds']:.3f} s wall, "
              f"{m['median_cpu_seconds']:.3f} s CPU (medians of {len(m['filter_change_seconds'])}; wall "
              f"{', '.join(f'{s:.2f}' for s in m['filter_change_seconds'])}), of which the scatter "
              f"{m['scatter_median_seconds']:.3f} s wall, {m['scatter_median_cpu_seconds']:.3f} s CPU; "
              f"page built in {m['page_build_seconds']:.1f} s; sends {what}")
    browser = r.get("browser", {})
    if "skipped" in browser:
        print(f"  browser drawing not measured: {browser['skipped']}")
    else:
        for mode in ("points", "density"):
            b = browser[mode]
            print(f"  browser (Chromium, software WebGL) parsing and drawing the 2D chart as {mode:<7}: "
                  f"{b['median_seconds']:.3f} s (median of {len(b['seconds'])}; "
                  f"{max(b['json_bytes']) / 1e6:.2f} MB of JSON)")
        for mode in ("points", "density"):
            total = r[mode]["median_seconds"] + browser[mode]["median_seconds"]
            cpu = r[mode]["median_cpu_seconds"] + browser[mode]["median_seconds"]
            print(f"  => redraw as {mode:<7}: about {total:.2f} s (kernel wall + browser), "
                  f"{cpu:.2f} s (kernel CPU + browser)")
    print(f"  load average at the end: {', '.join(f'{v:.1f}' for v in r['load_average'])}")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", default=["10M", "100M"])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER, help="where the logs go (outside git)")
    parser.add_argument("--reuse", action="store_true", help="keep logs that are already there")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit")
    parser.add_argument("--pandas-cap-gb", type=float, default=20.0,
                        help="address-space cap of the pandas child (lowered to fit the free memory)")
    parser.add_argument("--ooc-repeats", type=int, default=3, help="out-of-core runs on logs below 50M lines")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each training and scoring timing")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--dashboard", action="store_true", help="also time filter changes on the 1.03M page")
    parser.add_argument("--dashboard-only", action="store_true", help="only that (no logs, no training)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--delete", action="store_true", help="delete the logs at the end")
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        emit({"result": CHILDREN[mode](*rest)})
        return 0

    if args.dashboard_only:
        results = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                               "load_average_at_start": os.getloadavg()}}
        results["dashboard"] = dashboard_benchmark(args.repeats)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten {args.json}")
        return 0

    sizes = [parse_size(s) for s in args.sizes]
    args.folder.mkdir(parents=True, exist_ok=True)
    spill = args.folder / "duckdb-spill"
    results: dict = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "mem_available_gb_at_start": round(mem_available_gb(), 1)},
        "settings": {"duckdb_memory_limit": args.memory_limit, "k": args.k, "repeats": args.repeats},
        "generation": {}, "out_of_core": {}, "pandas": {},
    }
    print(f"scale benchmark on {os.cpu_count()} cores, {mem_available_gb():.1f} GB available; logs in {args.folder}")

    for n in sizes:
        path = log_path(args.folder, n)
        if args.reuse and path.exists():
            print(f"generate {label(n):>5}: reusing {path.name}")
            results["generation"][label(n)] = {"reused": True, "bytes": path.stat().st_size}
            continue
        r = run_child("generate", path, n, 0)
        results["generation"][label(n)] = r
        print(f"generate {label(n):>5}: {r['seconds']:7.1f} s, {r['bytes'] / 1e6:7,.0f} MB file, "
              f"peak {r['peak_rss_gb']:.2f} GB", flush=True)

    for n in sizes:
        path = log_path(args.folder, n)
        customers_out = args.folder / f"customers_{label(n)}.parquet"
        runs = [run_child("outofcore", path, args.memory_limit, customers_out, spill)
                for _ in range(args.ooc_repeats if n < 50_000_000 else 1)]
        ok = [r for r in runs if r["exit_code"] == 0]
        summary = {"runs": runs}
        if ok:
            summary.update({"median_seconds": statistics.median(r["seconds"] for r in ok),
                            "max_peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
                            "customers": ok[0]["customers"]})
            print(f"out-of-core {label(n):>5}: {summary['median_seconds']:7.1f} s (median of {len(ok)}), "
                  f"peak {summary['max_peak_rss_gb']:.2f} GB, {summary['customers']:,} customers", flush=True)
        else:
            print(f"out-of-core {label(n):>5}: FAILED {runs[-1].get('error')}", flush=True)
        results["out_of_core"][label(n)] = summary

        cap_gb = min(args.pandas_cap_gb, mem_available_gb() - 3.0)
        r = run_child("pandas", path, customers_out, cap_bytes=int(cap_gb * GB),
                      echo=lambda m: "stage_done" in m and print(
                          f"    pandas {label(n)}: {m['stage_done']:<18} {m['seconds']:7.1f} s, peak so far "
                          f"{m['peak_rss_gb']:.2f} GB", flush=True))
        r["address_space_cap_gb"] = round(cap_gb, 1)
        results["pandas"][label(n)] = r
        if "failed_at" in r:
            print(f"pandas      {label(n):>5}: out of memory at '{r['failed_at']}' after {r['wall_seconds']:.0f} s "
                  f"under a {cap_gb:.1f} GB address-space cap, peak {r['peak_rss_gb']:.2f} GB: "
                  f"{r['error']}: {r.get('message', '')}", flush=True)
        else:
            ratio = r["seconds"] / summary.get("median_seconds", float("nan"))
            print(f"pandas      {label(n):>5}: {r['seconds']:7.1f} s, peak {r['peak_rss_gb']:.2f} GB "
                  f"-> out-of-core is {ratio:.1f}x faster and uses "
                  f"{r['peak_rss_gb'] / summary.get('max_peak_rss_gb', float('nan')):.1f}x less memory"
                  + (" (same numbers)" if r.get("same_as_out_of_core") else ""), flush=True)

    if not args.skip_train:
        customers_path = args.folder / f"customers_{label(max(sizes))}.parquet"
        print(f"\ntraining on {customers_path.name} (K={args.k}, {args.repeats} repeats, medians):", flush=True)
        r = run_child("train", customers_path, args.k, args.repeats, echo=lambda m: "compared" in m and print(
            f"    n={m['compared']:>9,}: MiniBatchKMeans {m['speedup']:5.1f}x faster, inertia x{m['inertia_ratio']:.4f}, "
            f"ARI {m['ari']:.3f}", flush=True))
        results["training"] = r
        if r["exit_code"] == 0:
            for row in r["comparison"]:
                km, mb = row["KMeans"], row["MiniBatchKMeans"]
                print(f"  {row['n']:>9,} {'resampled' if row['resampled'] else 'customers'}: KMeans {km['median_seconds']:6.2f} s (inertia {km['inertia']:.4g}, "
                      f"silhouette {km['silhouette_10k']:.3f}) | MiniBatchKMeans {mb['median_seconds']:6.2f} s "
                      f"(inertia {mb['inertia']:.4g}, silhouette {mb['silhouette_10k']:.3f}) | ARI {row['ari']:.3f}")
            fit, ev, sc = r["segkit_fit"], r["evaluate_k"], r["scoring"]
            print(f"  SegmentationModel.fit ({fit['estimator']}, MINIBATCH_ABOVE={fit['minibatch_above']:,}): "
                  f"{fit['median_seconds']:.2f} s on {r['customers']:,} customers")
            print(f"  evaluate_k (K {ev['k_values'][0]}-{ev['k_values'][-1]}, {ev['n_bootstrap']} bootstraps) on a "
                  f"sample of {ev['sample_size']:,}: {ev['seconds']:.1f} s")
            print(f"  segment (scoring) {sc['customers']:,} customers: {sc['median_seconds']:.2f} s")
        else:
            print(f"  training FAILED: {r.get('error')}")

    if args.dashboard:
        results["dashboard"] = dashboard_benchmark(args.repeats)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten {args.json}")
    if args.delete:
        for n in sizes:
            log_path(args.folder, n).unlink(missing_ok=True)
            (args.folder / f"customers_{label(n)}.parquet").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
