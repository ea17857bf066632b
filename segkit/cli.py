"""Command line: ``segkit features | train | score | backtest | clv | models | rollback | fetch-data | sample``.

Bad input ends with exit code 2 and one line on stderr (file, problem, fix), never a
traceback (set ``SEGKIT_DEBUG=1`` to see one). A failed run changes nothing in the
artifacts folder, and ``--out`` may name neither the input file nor anything inside the
artifacts folder.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from segkit.config import DATA_DIR, artifacts_dir, currency
from segkit.errors import SegkitArtifactError, SegkitDataError, SegkitError
from segkit.ingest.currency import currency_symbol, with_fx
from segkit.ingest.options import ReadOptions
from segkit.views.export import to_safe_csv, with_currency_headings

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segkit", description="Customer segmentation for retail transaction logs.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p: argparse.ArgumentParser, required: bool = True) -> None:
        what = ("transaction file (.xlsx, .csv, .csv.gz, .zip of one CSV, .parquet), or a FOLDER or 'GLOB' of such "
                "files read as one log")
        # required unless --engine ibis reads a database table instead (checked in main)
        p.add_argument("--data", help=what + ("; default: data/ or the built-in sample" if not required else ""))
        p.set_defaults(needs_data=required)
        p.add_argument("--columns", help="column mapping ROLE=COLUMN,... (roles: customer, invoice, date, quantity, "
                       "price, amount, product, description, country, currency, financial_status, refunded_amount)")
        p.add_argument("--layout", default=None, metavar="NAME",
                       help="the file's layout: uci, shopify (orders export) or woocommerce (orders export); default: "
                       "recognised from the header. --columns overrides single roles of it")
        p.add_argument("--sheet", help="Excel sheet name (default: every sheet, read as one log when they have the "
                       "same columns)")
        p.add_argument("--rules", choices=["default", "seed"], default=None,
                       help="cleaning rules (default: 'default'; for score, the saved model's)")
        p.add_argument("--engine", choices=["auto", "pandas", "duckdb", "spark", "ibis"], default="auto",
                       help="auto (default): duckdb for parquet logs over 5M lines, else pandas; pandas: the file "
                       "in memory; duckdb: parquet out of core; spark: a Spark session (segkit[spark], Java 17+); "
                       "ibis: inside the database at --db, on its --table (segkit[postgres]; docs/databases.md)")
        p.add_argument("--db", default=None, metavar="URL",
                       help="with --engine ibis: the database, e.g. postgresql://USER[:PASSWORD]@HOST:5432/DATABASE "
                       "(default: SEGKIT_DB)")
        p.add_argument("--order-by", default=None, metavar="COLUMN",
                       help="with --engine ibis: the column that gives the lines' order (ties in the cancellation "
                       "netting, the first of duplicate lines); default: the date, then every column by name")
        p.add_argument("--spark-master", default=None,
                       help="Spark master for --engine spark (default local[*]; e.g. spark://host:7077, yarn)")
        p.add_argument("--spark-remote", default=None,
                       help="Spark Connect URL for --engine spark, e.g. sc://host:15002 (default: SPARK_REMOTE; "
                       "needs pyspark[connect])")
        p.add_argument("--table", default=None,
                       help="with --engine spark: read the log from this table of the Spark catalog (db.name) "
                       "instead of --data; with --engine ibis: the table of --db (schema.name for another schema)")
        p.add_argument("--fx", default=None, metavar="RATES.csv",
                       help="exchange rates for a log in several currencies: a CSV of lines currency,rate_to_<BASE> "
                       "(e.g. EUR,0.86 under the header currency,rate_to_GBP); amounts are converted to BASE")
        order = p.add_mutually_exclusive_group()
        order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True, default=None,
                           help="text dates are dd/mm/yyyy (default: decided from the values)")
        order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                           help="text dates are mm/dd/yyyy (default: decided from the values)")

    def feature_module_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--feature-module", action="append", default=[], metavar="PATH",
                       help="a .py file (imported by its file name) or a folder put on the import path for this run, "
                       "so that registered features defined there can be computed and a saved model's features "
                       "imported; repeatable")

    def feature_options(p: argparse.ArgumentParser) -> None:
        feature_module_option(p)
        p.add_argument("--window-days", type=int, default=None,
                       help="count purchases over the last N days before the snapshot date (default: the whole log)")
        p.add_argument("--feature", action="append", default=[], metavar="NAME",
                       help="add a registered feature (e.g. ChristmasShare, CategoriesBought); repeatable")

    p = sub.add_parser("features", help="write one row of features per customer")
    data_options(p)
    feature_options(p)
    p.add_argument("--out", required=True, help="output CSV")

    p = sub.add_parser("train", help="train, print the report and save the model")
    data_options(p, required=False)
    feature_options(p)
    p.add_argument("--k", default="auto", help="number of value tiers (clusters for other presets), or 'auto' (default)")
    p.add_argument("--preset", choices=["default", "clusters", "seed"], default="default",
                   help="default = lifecycle stage x value tiers of NumPurchases, TotalSpend; clusters = K-Means "
                   "on log Recency, NumPurchases, TotalSpend; seed = the original dashboard's")
    p.add_argument("--artifacts", default=None, help="folder for the saved model (default: artifacts/)")
    p.add_argument("--no-clv", action="store_true",
                   help="skip fitting lifetime value (BG/NBD + Gamma-Gamma; also SEGKIT_CLV=0)")
    p.add_argument("--clv-model", choices=["bgnbd", "mbgnbd", "pareto"], default="bgnbd",
                   help="purchase model of the lifetime value: bgnbd (default), mbgnbd (one-time buyers can drop out "
                   "too) or pareto (Pareto/NBD: dropout at any time)")
    p.add_argument("--until", metavar="DATE", help="train as of DATE (YYYY-MM-DD): every line after it is ignored")
    p.add_argument("--horizon-days", type=int, default=90,
                   help="backtest horizon: what customers like these did in the next N days (default 90)")
    p.add_argument("--no-backtest", action="store_true",
                   help="skip the backtest (no evidence in model.json, segment names unchecked)")
    p.add_argument("--lifecycle", choices=["fitted", "fixed"], default=None,
                   help="lifecycle thresholds: fitted (default) = chosen on the log's earlier backtest cut-offs and "
                   "reported on the two latest (segkit.pipeline.thresholds; 'Lost' only where such customers returned "
                   "under 10 %%, else 'Lapsed'); fixed = New 30, At risk 120, Lost 180 days. Fitted falls back to fixed, "
                   "and says why, when the log is too short for the cut-offs, the lines are out of core or the backtest "
                   "is skipped. Ignored by --preset clusters and seed")

    p = sub.add_parser("score", help="assign saved segments to the customers in a file")
    data_options(p)
    p.add_argument("--artifacts", default=None, help="folder of the saved model (default: artifacts/)")
    p.add_argument("--allow-short-window", action="store_true",
                   help="score a log shorter than the model's observation window, with a warning")
    feature_module_option(p)
    p.add_argument("--since", metavar="DATE", help="write only customers with a purchase on or after DATE "
                   "(YYYY-MM-DD); their features still use their whole history")
    p.add_argument("--until", metavar="DATE", help="score the log as it was on DATE (YYYY-MM-DD): every line "
                   "after it is ignored")
    p.add_argument("--history", metavar="LOG", help="the shop's log so far (file, FOLDER or 'GLOB'): the customers of "
                   "--data are scored on their whole history with the new lines added (lines in both counted once), "
                   "and the output says each one's segment before (SegmentBefore) and whether it moved")
    p.add_argument("--out", required=True, help="output CSV")

    p = sub.add_parser("backtest", help="what customers of each segment did next, at earlier dates of the log")
    data_options(p)
    feature_options(p)
    p.add_argument("--k", default="auto", help="number of value tiers (clusters for other presets), or 'auto' (default: "
                   "chosen on the lines up to --until, as segkit train does)")
    p.add_argument("--preset", choices=["default", "clusters", "seed"], default="default", help="as for train")
    p.add_argument("--horizon-days", type=int, default=90, help="days after each cut-off to measure (default 90)")
    p.add_argument("--cutoffs", type=int, default=6, help="number of rolling cut-offs (default 6)")
    p.add_argument("--lifecycle", choices=["fitted", "fixed"], default=None,
                   help="as for train: fitted on the earlier cut-offs (default; printed with their held-out figures) "
                   "or the fixed 30/120/180-day thresholds")
    p.add_argument("--until", metavar="DATE", help="ignore every line after DATE (YYYY-MM-DD)")
    p.add_argument("--out", required=True, help="output CSV: one row per (cut-off, segment) and a pooled row per segment")

    p = sub.add_parser("clv", help="lifetime value per customer with intervals (BG/NBD, MBG/NBD or Pareto/NBD + "
                       "Gamma-Gamma; needs segkit[clv] to fit), and its diagnostics")
    data_options(p)
    p.add_argument("--model", choices=["bgnbd", "mbgnbd", "pareto"], default=None,
                   help="purchase model to fit: bgnbd (default), mbgnbd (one-time buyers can drop out too) or pareto "
                   "(Pareto/NBD: dropout at any time; no period-transactions check); "
                   "with an existing --params file, the model it holds")
    p.add_argument("--until", help="last day of the observation, YYYY-MM-DD (later lines are ignored; "
                   "default: the last purchase day)")
    p.add_argument("--out", required=True, help="output CSV: CustomerID, frequency, recency, T, monetary, "
                   "p_alive, expected_purchases_90d, clv, clv_low, clv_high")
    p.add_argument("--level", type=float, default=0.9,
                   help="central interval of clv_low..clv_high (default 0.9 = 5th to 95th percentile)")
    p.add_argument("--draws", type=int, default=200,
                   help="bootstrap refits behind the intervals (default 200, 30-70 s on 4,000 customers; "
                   "0: no intervals)")
    p.add_argument("--diagnostics", metavar="OUT_DIR",
                   help="also write the diagnostics there (CSV files and summary.txt): calibration on a holdout by "
                   "purchase frequency, the period-transactions check, frequency/recency matrices, the Gamma-Gamma "
                   "independence check, predicted against actual spend per segment; refits on the holdout's "
                   "calibration period (needs segkit[clv])")
    p.add_argument("--holdout-days", type=int, default=90,
                   help="diagnostics: days at the end of the data held out (default 90)")
    p.add_argument("--artifacts", default=None,
                   help="diagnostics: folder of a saved model, to give the spend ratios per segment (segments as "
                   "of the cut-off)")
    p.add_argument("--params", help="parameters JSON: read it if it exists (no fit, no pymc), else fit and write it")
    p.add_argument("--horizon-months", type=int, default=12, help="CLV horizon in months of 30 days (default 12)")
    p.add_argument("--discount", type=float, default=0.01, help="monthly discount rate (default 0.01 = 1%%)")

    p = sub.add_parser("fetch-data", help="download the UCI Online Retail workbook")
    p.add_argument("--dest", default=str(DATA_DIR), help="folder to save it in (default: data/)")
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("sample", help="write the built-in sample log to a file")
    p.add_argument("--out", required=True, help="output file (.csv, .xlsx or .parquet)")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("models", help="list the saved model versions (the current one marked)")
    p.add_argument("--artifacts", help="model folder (default: artifacts/)")

    p = sub.add_parser("rollback", help="make an earlier saved model version the current one")
    p.add_argument("version", help="a version from `segkit models`")
    p.add_argument("--artifacts", help="model folder (default: artifacts/)")
    feature_module_option(p)
    return parser


class _ClosedPipeSafe:
    """Standard output that, once its reader has gone (``segkit score ... | head``), drops
    what is left to print instead of failing: the command still finishes its work (writes
    its --out file, saves the model) and exits as it would have."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        try:  # what is still buffered goes nowhere at exit, not into a second BrokenPipeError
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "needs_data", False) and not args.data and args.engine != "ibis":
        parser.error("the following arguments are required: --data (or --engine ibis --db URL --table NAME)")
    stdout = sys.stdout
    sys.stdout = _ClosedPipeSafe(stdout)
    try:
        with feature_modules(getattr(args, "feature_module", None) or []):
            return _COMMANDS[args.command](args)
    except BrokenPipeError:  # a closed pipe met outside sys.stdout: the command did not finish
        sys.stdout._gone()
        try:
            print("segkit: error: the output pipe closed before the command finished; nothing more was done. "
                  "Run it again writing to a file.", file=sys.stderr)
        except OSError:
            pass
        return 1
    except SegkitError as exc:
        print(f"segkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("segkit: interrupted; nothing was saved.", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: still one line, unless debugging
        if os.environ.get("SEGKIT_DEBUG"):
            raise
        print(f"segkit: unexpected error: {type(exc).__name__}: {exc} (set SEGKIT_DEBUG=1 for details)", file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


@contextlib.contextmanager
def feature_modules(paths):
    """``--feature-module``: for the run, put each folder (or each ``.py`` file's folder)
    first on ``sys.path`` and import each ``.py`` file as the module of its file name, so
    the registered features it defines can be computed (``--feature NAME``) and a saved
    model naming ``module:function`` can import them. For a module inside a package, give
    the folder holding the package. ``sys.path`` is restored afterwards; imported modules
    stay imported."""
    added, modules = [], []
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            folder = path.resolve()
        elif path.is_file() and path.suffix == ".py":
            folder = path.resolve().parent
            modules.append((text, path.stem))
        else:
            raise SegkitDataError(f"--feature-module '{text}' is not a .py file or a folder; name the file that "
                                  "defines your registered features.")
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
            added.append(str(folder))
    try:
        importlib.invalidate_caches()
        for text, name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:
                reason = (str(exc).splitlines() or [""])[0][:120]
                raise SegkitDataError(f"--feature-module '{text}' could not be imported as module '{name}' "
                                      f"({type(exc).__name__}: {reason}); fix the module or name another file.") from None
        yield
    finally:
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def _spark(args) -> dict:
    """Spark options of ``args`` for ``load_customer_data`` (only with ``--engine spark``)."""
    if getattr(args, "engine", None) != "spark":
        return {}
    return {"spark_master": args.spark_master, "spark_remote": args.spark_remote, "spark_table": args.table}


def _database(args, fetch_lines: bool = False) -> dict:
    """Database options of ``args`` for ``load_customer_data`` (only with ``--engine ibis``);
    ``fetch_lines``: the command needs the clean lines in memory (backtest, lifetime value, --until)."""
    if getattr(args, "engine", None) != "ibis":
        for option in ("db", "order_by"):
            if getattr(args, option, None):
                flag = "--" + option.replace("_", "-")
                raise SegkitDataError(f"{flag} reads a database table and needs --engine ibis; add --engine ibis "
                                      f"--table NAME, or drop {flag}.")
        return {}
    url = args.db or os.environ.get("SEGKIT_DB") or None
    if not url or not args.table:
        raise SegkitDataError("--engine ibis reads a table of a database: give --db URL (e.g. "
                              "postgresql://USER@HOST:5432/DATABASE, or set SEGKIT_DB) and --table NAME.")
    if getattr(args, "data", None):
        raise SegkitDataError("--engine ibis reads --table from --db, not a file: drop --data, or drop --engine ibis.")
    return {"db_url": url, "db_table": args.table, "order_by": args.order_by, "fetch_lines": fetch_lines}


def _read_options(args) -> dict:
    """How to read --data, as the readers' keywords (``ReadOptions.as_kwargs``): --columns with
    the --layout preset it starts from and the --fx rates, --sheet, --dayfirst / --monthfirst."""
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.load import parse_column_mapping

    columns = with_fx(parse_column_mapping(args.columns), getattr(args, "fx", None))
    return ReadOptions.given(columns, args.sheet, getattr(args, "dayfirst", None),
                             getattr(args, "layout", None)).as_kwargs()


def _say_skipped(args) -> None:
    """Name on stderr every file of a ``--data`` folder that is not read, and why."""
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.logs import skipped_files

    data = getattr(args, "data", None)
    for name, why in (skipped_files(data) if data else []):
        print(f"segkit: note: skipped '{name}' in '{data}': {why}.", file=sys.stderr)


def _say_sheets(args) -> None:
    """Say on stderr, in one line, that a workbook's sheets were read as one log."""
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.readers import workbook_sheets_note

    data = getattr(args, "data", None)
    note = workbook_sheets_note(data, args.sheet) if data else None
    if note:
        print(f"segkit: note: {note}", file=sys.stderr)


def _check_out(args) -> None:
    """Refuse an ``--out`` that would overwrite the input or a file of the saved model."""
    out = Path(args.out).expanduser().resolve()
    data = getattr(args, "data", None)
    if data and Path(data).expanduser().exists() and out == Path(data).expanduser().resolve():
        raise SegkitDataError(f"--out '{args.out}' is the input file itself; name another output file.")
    if data and _data_folder(data) is not None and _data_folder(data) in out.parents:
        raise SegkitDataError(f"--out '{args.out}' is inside the data folder '{data}', so the next run would read it "
                              "as transactions; name a file outside it.")
    artifacts = Path(getattr(args, "artifacts", None) or artifacts_dir()).expanduser().resolve()
    if out == artifacts or artifacts in out.parents:
        raise SegkitDataError(
            f"--out '{args.out}' is inside the artifacts folder '{artifacts}', which holds the saved model; "
            "name a file outside it."
        )
    if out.is_dir():
        raise SegkitDataError(f"--out '{args.out}' is a folder; name a CSV file.")


def _data_folder(data: str) -> Path | None:
    """The folder a folder or glob ``--data`` reads from (resolved), else ``None``."""
    path = Path(data).expanduser()
    if path.is_dir():
        return path.resolve()
    parts = path.parts
    magic = [i for i, part in enumerate(parts) if any(c in part for c in "*?[")]
    if not magic:
        return None
    return Path(*parts[:magic[0]]).resolve() if magic[0] else Path.cwd()


def _write_csv(frame: pd.DataFrame, out: str) -> None:
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(to_safe_csv(frame), encoding="utf-8")
    except OSError as exc:
        raise SegkitDataError(
            f"Could not write '{out}' ({exc.strerror or type(exc).__name__}); check that its folder is writable "
            "and has free space, or name another file."
        ) from None


def _log_currency() -> str:
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.load import LOG_CURRENCY

    return LOG_CURRENCY


def _customer_csv(frame: pd.DataFrame, code: str | None) -> pd.DataFrame:
    """A customer table for a CSV: money headed with the log's currency (``TotalSpend (€)``)
    when the log names one (``export.with_currency_headings``)."""
    return with_currency_headings(frame, currency_symbol(code) if code else None)


def _features(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import load_customer_data

    _check_out(args)
    _say_skipped(args)
    data = load_customer_data(args.data, rules=args.rules or "default", engine=args.engine, **_read_options(args),
                              window_days=args.window_days, extra_features=args.feature,
                              **_spark(args), **_database(args))
    _say_sheets(args)
    _write_csv(_customer_csv(data.customers.reset_index(), data.currency), args.out)
    print(f"wrote {len(data.customers):,} customers to {args.out}")
    return 0


def _train(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.backtest_cache import backtest_key, cached_backtest
    from segkit.pipeline.workflow import customer_data_until, load_customer_data

    k = args.k if args.k == "auto" else _positive_int(args.k)
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import parse_until

    until = parse_until(args.until)
    _say_skipped(args)
    data = load_customer_data(args.data, rules=args.rules or "default", engine=args.engine, **_read_options(args),
                              window_days=args.window_days, extra_features=args.feature,
                              **_spark(args), **_database(args, fetch_lines=_train_needs_lines(args)))
    _say_sheets(args)
    data = customer_data_until(data, until)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"data: {data.source}" + ("  [SAMPLE DATA]" if data.is_sample else ""))
        print("\ncleaning report")
        print(data.report.to_string(index=False))
        window = f"the last {data.window_days} days" if data.window_days else f"the whole log ({data.covered_days} days)"
        print(f"\nobservation window: {window}")
        key = backtest_key(data, _backtest_options(args))
        cached = None if _backtest_skipped(args) else cached_backtest(args.artifacts or artifacts_dir(), key)
        model, table = _train_reusing_backtest(data, args, k, cached) if cached is not None else (None, None)
        if model is None:
            model, table, lifecycle = _train_with_lifecycle(data, args, k, skipped=_backtest_skipped(args))
            _say_training_sample(model)
            _fit_value(model, data, args)
            _backtest_model(model, data, args, renames=lifecycle.renames,
                            features=lifecycle.fit.features if lifecycle.fit is not None and not args.feature else None)
            if getattr(model, "evidence_", None):
                model.evidence_["key"] = key  # backtest_cache: the next train of the same model reuses it
        if table is not None:
            print(f"\nmetrics per K (on {table.attrs['sample_size']:,} customers)")
            print(table.round(3).to_string())
            print(f"recommended K: {model.n_clusters}")
        tiers = f"K={model.n_clusters} value tiers" if model.lifecycle_rules_ is not None else f"K={model.n_clusters}"
        print(f"\nsegments ({tiers})")
        print(model.profile_.drop(columns="Recommendation").round(2).to_string())
        print("\nwhat the segments mean")
        for name, row in model.definitions_.iterrows():
            print(f"  {name}: {row['Definition']}\n      {row['InNumbers']}\n      do: {row['Recommendation']}")
            if isinstance(row.get("Evidence"), str) and row["Evidence"]:
                print(f"      evidence: {row['Evidence']}")
    _store_refits(model, data, args)
    info = data.training_info()
    if getattr(model, "training_sample_", None):
        info["trained_on_customers"] = model.training_sample_["trained_on"]
    card = save_artifacts(model, args.artifacts or artifacts_dir(), info)
    _prepare_page(data, model, card)
    print(f"\nsaved model version {card.parent.name} to {card.parent.parent.parent} (earlier versions: `segkit models`)")
    return 0


def _store_refits(model, data, args) -> None:
    """``segkit train``: refit the model's settings on resampled training customers and store
    the refits with it, so that scoring says per customer how often the label is kept
    (``KeptInRefits``, ``Confidence``). Not for the seed preset (it reproduces the original page)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.validation import store_refits
    from segkit.pipeline.workflow import training_customers

    if args.preset == "seed":
        print("\nrefits: not stored (the seed preset reproduces the original page)")
        return
    started = time.perf_counter()
    store_refits(model, training_customers(data, model.random_state))
    print(f"\nrefits: {len(model.refits_)} refits on resampled customers stored; each customer's Confidence is the "
          f"share of them that keep its label ({time.perf_counter() - started:.1f} s)")


def _backtest_options(args) -> dict:
    """The options of ``segkit train`` its backtest depends on (``backtest_cache.backtest_key``)."""
    clv = not args.no_clv and os.environ.get("SEGKIT_CLV", "1") != "0"
    return {"preset": args.preset, "k": str(args.k), "lifecycle": args.lifecycle or "fitted",
            "horizon_days": int(args.horizon_days), "features": list(args.feature or []), "until": args.until,
            "clv": getattr(args, "clv_model", "bgnbd") if clv else None}


def _say_training_sample(model) -> None:
    sample = getattr(model, "training_sample_", None)
    if sample:
        print(f"\ntrained on a random sample of {sample['trained_on']:,} of the {sample['customers']:,} customers "
              "(segment sizes below are the sample's; every customer is scored)")


def _train_reusing_backtest(data, args, k, card):
    """``segkit train`` when the current model's backtest was run on the same data, options
    and code (``backtest_cache``): the model is trained with its lifecycle thresholds and
    given its threshold fit, evidence and lifetime-value check instead of computing them
    again. Returns ``(model, k_table)``; ``(None, None)`` when the trained model's names
    differ (then everything runs)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.label import LifecycleRules
    from segkit.pipeline.backtest_cache import reuse_backtest
    from segkit.pipeline.workflow import train_model

    model, table = train_model(data, k=k, preset=args.preset, lifecycle=LifecycleRules(**card["lifecycle"]),
                               extra_features=args.feature)
    if not reuse_backtest(model, card):
        print("\nbacktest: the saved model's backtest does not fit this model's segments; running it again")
        return None, None
    evidence = model.evidence_
    print(f"\n{model.lifecycle_fit_['sentence']}")
    print(f"\nbacktest: reused from the current model, trained on the same data with the same options and segkit "
          f"code: {len(evidence['cutoffs'])} cut-offs ({', '.join(evidence['cutoffs'])}), {evidence['horizon_days']}-day "
          "horizon; the threshold fit and the lifetime-value check are reused with it")
    _say_training_sample(model)
    _fit_value(model, data, args)
    return model, table


def _train_with_lifecycle(data, args, k, skipped: str = ""):
    """``thresholds.train_with_lifecycle`` with the command's options, the lifecycle
    thresholds said in words (fitted, or fixed and why); ``--lifecycle fitted`` named on a
    preset without lifecycle stages is said to be ignored."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.thresholds import FITTED, train_with_lifecycle

    model, table, choice = train_with_lifecycle(data, k=k, preset=args.preset, lifecycle=args.lifecycle or FITTED,
                                                horizon_days=args.horizon_days, not_fitted_because=skipped or None,
                                                extra_features=args.feature)
    if choice.rules is None and args.lifecycle == FITTED:
        print(f"\nlifecycle: --lifecycle fitted ignored (the {args.preset} preset has no lifecycle stages)")
    elif choice.rules is not None:
        print()
        for line in choice.sentences(currency_symbol(data.currency)):
            print(line)
        if choice.fitted:
            print(f"  (fitted in {choice.seconds:.1f} s)")
    return model, table, choice


def _backtest_switched_off(args) -> str:
    """Why the backtest is switched off (``--no-backtest``, ``SEGKIT_BACKTEST=0``), in words
    ("" when it is not)."""
    if args.no_backtest:
        return "the backtest that fits them was skipped (--no-backtest)"
    if os.environ.get("SEGKIT_BACKTEST", "1") == "0":
        return "the backtest that fits them was skipped (SEGKIT_BACKTEST=0)"
    return ""


def _backtest_skipped(args) -> str:
    """Why ``segkit train`` runs no backtest, in words ("" when it runs one)."""
    if args.preset == "seed":
        return "the seed preset reproduces the original page"
    return _backtest_switched_off(args)


def _train_needs_lines(args) -> bool:
    """Whether ``segkit train`` uses the clean lines: the backtest (which fits the
    lifecycle thresholds), lifetime value or ``--until``."""
    backtest = not _backtest_skipped(args)
    value = not args.no_clv and os.environ.get("SEGKIT_CLV", "1") != "0"
    return bool(backtest or value or args.until)


def _backtest_model(model, data, args, renames=None, features=None) -> None:
    """``segkit train``: backtest the model's settings on the training lines
    (``segkit.pipeline.backtest``), store the pooled evidence in the model and rename the groups
    the evidence does not back. Skipped for the seed preset (it reproduces the original
    page), out-of-core data (no lines) and ``--no-backtest`` (the lifecycle thresholds are then
    the fixed ones). ``renames``: the renames the fitted thresholds need ("Lost" -> "Lapsed",
    "At risk" -> "Quiet"), made whatever the pooled evidence says. ``features``: the customer
    features the threshold fit computed at the same cut-offs (``LifecycleFit.features``),
    not computed again."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import apply_evidence, backtest_segments

    if _backtest_switched_off(args):
        print("\nbacktest: skipped")
        return
    if args.preset == "seed" or data.lines is None:
        print("\nbacktest: not run" + (" (the seed preset reproduces the original page)" if args.preset == "seed"
                                       else " (out-of-core data: the lines are not in memory)"))
        return
    started = time.perf_counter()
    try:
        result = backtest_segments(data.lines, model=model, window_days=data.window_days,
                                   horizon_days=args.horizon_days, extra_features=args.feature, features=features)
    except SegkitDataError as exc:
        print(f"\nbacktest: not run ({exc})")
        return
    renames = apply_evidence(model, result, currency_symbol(data.currency), renames=renames)
    dates = ", ".join(c.strftime("%Y-%m-%d") for c in result.cutoffs)
    print(f"\nbacktest: {len(result.cutoffs)} cut-offs ({dates}), {result.horizon_days}-day horizon, "
          f"{time.perf_counter() - started:.1f} s")
    for old, new in renames.items():
        figures = model.evidence_["segments"].get(new)
        if new == "Lost" and figures is not None:  # a fixed-threshold "Lapsed" the backtest measured as gone
            print(f"  '{old}' called '{new}': {100 * figures['return_rate']:.0f} % of customers like these bought again "
                  f"within {result.horizon_days} days (at most {100 * figures['return_rate_hi']:.0f} % at a cut-off), "
                  f"under {100 * 0.10:.0f} %.\n  {model.lifecycle_fit_['sentence']}")
            continue
        if figures is None or old == "At risk":
            print(f"  '{old}' renamed '{new}' (at the held-out cut-offs customers like these did not do what "
                  f"'{old}' says)" + (f": {100 * figures['return_rate']:.0f} % bought again within "
                                      f"{result.horizon_days} days" if figures is not None else ""))
            continue
        print(f"  '{old}' renamed '{new}': {100 * figures['return_rate']:.0f} % of customers like these bought again "
              f"within {result.horizon_days} days (up to {100 * figures['return_rate_hi']:.0f} % at a cut-off); "
              f"'{old}' and its no-paid-channels advice need under {100 * 0.10:.0f} %.")
    for name, change in (model.evidence_.get("advice_changed") or {}).items():
        print(f"  '{name}' advised by its evidence: {change['why']}\n      do: {change['advice']}")
    _check_value(model, result, data.lines)


def _check_value(model, result, lines) -> None:
    """``segkit train`` with lifetime value: check it against the backtest's cut-offs
    (``segkit.pipeline.value_backtest``) and say the ratio per segment."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import value_sentence
    from segkit.pipeline.value_backtest import apply_value_evidence

    if not getattr(model, "clv_params_", None):
        return
    started = time.perf_counter()
    try:
        apply_value_evidence(model, result, lines, currency())
    except SegkitDataError as exc:
        print(f"\nlifetime value against the backtest: not checked ({exc})")
        return
    value = model.evidence_["value"]
    n, horizon = len(value["cutoffs"]), value["horizon_days"]
    print(f"\nlifetime value against the backtest ({n} cut-offs, refitted before each; "
          f"{time.perf_counter() - started:.1f} s)")
    if value["all"]:
        print(f"  all customers: {value_sentence(value['all'], n, horizon)}")
    for name, figures in value["segments"].items():
        print(f"  {name}: {value_sentence(figures, n, horizon)}")


def _backtest(args) -> int:
    """``segkit backtest``: the table of ``segkit.pipeline.backtest.backtest_segments`` as CSV."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import (
        LAPSED,
        LOST_MAX_RETURN,
        backtest_segments,
        earned_names,
        evidence_sentences,
        parse_until,
    )

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import customer_data_until, load_customer_data

    _check_out(args)
    if args.engine in ("duckdb", "spark"):
        raise SegkitDataError(f"segkit backtest needs the purchase lines in memory; --engine {args.engine} is not "
                              "supported here (use --engine pandas).")
    k = args.k if args.k == "auto" else _positive_int(args.k)
    until = parse_until(args.until)
    data = load_customer_data(args.data, rules=args.rules or "default", **_read_options(args),
                              engine="ibis" if args.engine == "ibis" else "pandas",
                              window_days=args.window_days, extra_features=args.feature,
                              **_database(args, fetch_lines=True))
    data = customer_data_until(data, until)
    model, _, lifecycle = _train_with_lifecycle(data, args, k)
    result = backtest_segments(data.lines, model=model, window_days=data.window_days, horizon_days=args.horizon_days,
                               n_cutoffs=args.cutoffs, extra_features=args.feature)
    table = result.table.copy()
    for column in table.columns:
        if column.startswith(("return_rate", "revenue_share")):
            table[column] = table[column].round(4)
        elif column.startswith(("mean_spend", "median_spend")):
            table[column] = table[column].round(2)
    _write_csv(table, args.out)
    dates = ", ".join(c.strftime("%Y-%m-%d") for c in result.cutoffs)
    print(f"wrote {len(table):,} rows to {args.out}: {len(result.cutoffs)} cut-offs ({dates}), "
          f"{result.horizon_days}-day horizon, K={model.n_clusters}")
    evidence = result.evidence()
    for name, sentence in evidence_sentences(evidence, currency_symbol(data.currency)).items():
        print(f"  {name}: {sentence}")
    for old, new in {**lifecycle.renames, **earned_names(evidence)}.items():
        need = "return clearly less than active customers at the held-out cut-offs" if old == "At risk" \
            else "return under 10 % at every cut-off"
        print(f"'{old}' is not earned here (a '{old}' group must {need}): segkit train calls it '{new}'.")
    lapsed = evidence["segments"].get(LAPSED)
    if not lifecycle.fitted and lapsed is not None and lapsed.get("return_rate_hi", 1.0) < LOST_MAX_RETURN:
        print(f"'{LAPSED}' (fixed thresholds, named before any measure) returned under {100 * LOST_MAX_RETURN:.0f} % "
              "at every cut-off: segkit train calls it 'Lost'.")
    return 0


def _prepare_page(data, model, card_path) -> None:
    """Segment the customers for the dashboard now (``segkit.page.page_cache``), so the first
    page opens as fast as the next ones."""
    try:
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.page.page_cache import prepare_page_cache
    except ImportError:  # a core install (no segkit[dashboard]): there is no page to prepare
        return
    prepare_page_cache(data, model, json.loads(Path(card_path).read_text()))


def _fit_value(model, data, args) -> None:
    """Fit lifetime-value parameters and their draws into the model when the clv extra is
    there (say so when not)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import fit_customer_value
    from segkit.value.clv import PURCHASE_MODELS, clv_available

    if args.no_clv or os.environ.get("SEGKIT_CLV", "1") == "0" or data.lines is None:
        print("\nlifetime value: not fitted" + (" (out-of-core data)" if data.lines is None else ""))
        return
    if not clv_available():
        print("\nlifetime value: not fitted (install the clv extra: pip install 'segkit[clv]')")
        return
    started = time.perf_counter()
    fit_customer_value(model, data.lines, getattr(args, "clv_model", "bgnbd"))
    params, uncertainty = model.clv_params_, model.clv_uncertainty_
    name = params["purchase_model"]
    print(f"\nlifetime value ({PURCHASE_MODELS[name]} + Gamma-Gamma, maximum likelihood): "
          + ", ".join(f"{k}={v:.4g}" for k, v in {**params[name], **params["gamma_gamma"]}.items()))
    print(f"  {len(uncertainty['draws'])} bootstrap parameter draws stored for {uncertainty['level']:.0%} intervals "
          f"(CLVLow/CLVHigh; parameter uncertainty only) in {time.perf_counter() - started:.1f} s")
    _warn_independence(uncertainty["independence"])


def _warn_independence(check: dict) -> None:
    """Print the Gamma-Gamma independence check's warning (``gamma_gamma_independence``) when it fails."""
    if not check["independent"]:
        print(f"segkit: warning: {check['message']}", file=sys.stderr)


def _score(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import customers_for_scoring

    _check_out(args)
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import parse_until

    since, until = _since_date(args.since), parse_until(args.until)
    _say_skipped(args)
    model = _load_model(Path(args.artifacts or artifacts_dir()))
    notes: list[str] = []
    if args.history:
        return _score_with_history(args, model, since, until)
    customers = customers_for_scoring(args.data, model, rules=args.rules, engine=args.engine, **_read_options(args),
                                      allow_short_window=args.allow_short_window, notes=notes,
                                      spark=_spark(args), until=until,
                                      database=_database(args, fetch_lines=until is not None))
    _say_sheets(args)
    for note in notes:
        print(f"segkit: warning: {note}", file=sys.stderr)
    if since is not None:
        # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
        from segkit.live.refresh_changes import purchased_since

        customers = purchased_since(customers, since, source=args.data)
    if args.engine == "spark":
        return _score_on_spark(args, model, customers, since)
    scored = _with_evidence(model, model.segment(customers))
    _write_csv(_customer_csv(scored.reset_index(), customers.attrs.get(_log_currency())), args.out)
    print(f"scored {len(scored):,} customers into {args.out}" + (f" (purchases since {since:%Y-%m-%d})" if since is not None else ""))
    print(scored["Segment"].value_counts().to_string())
    return 0


def _score_with_history(args, model, since, until) -> int:
    """``score --history LOG``: the new file's customers on their whole history, with
    their segment on the history alone beside it (``SegmentBefore``, ``Moved``)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import (
        customers_for_scoring,
        customers_with_history,
        segment_moves,
    )

    if args.engine not in ("auto", "pandas"):
        raise SegkitDataError(f"score --history reads both logs in memory; --engine {args.engine} is not supported "
                              "with it (use --engine pandas).")
    notes: list[str] = []
    read = _read_options(args)
    customers = customers_with_history(args.data, args.history, model, rules=args.rules, **read,
                                       allow_short_window=args.allow_short_window, notes=notes, until=until)
    before = model.segment(customers_for_scoring(args.history, model, rules=args.rules, **read,
                                                 allow_short_window=True, until=until))
    for note in notes:
        print(f"segkit: {note}", file=sys.stderr)
    if since is not None:
        # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
        from segkit.live.refresh_changes import purchased_since

        customers = purchased_since(customers, since, source=args.data)
    scored = _with_evidence(model, segment_moves(model.segment(customers), before["Segment"]))
    _write_csv(_customer_csv(scored.reset_index(), customers.attrs.get(_log_currency())), args.out)
    known = int(scored["SegmentBefore"].notna().sum())
    print(f"scored {len(scored):,} customers of {args.data} on their whole history into {args.out}: "
          f"{known:,} known to the history, {int(scored['Moved'].sum()):,} of them moved segment, "
          f"{len(scored) - known:,} new to it")
    moves = scored[scored["Moved"]].groupby(["SegmentBefore", "Segment"], observed=True).size()
    for (old, new), count in moves.sort_values(ascending=False).items():
        print(f"  {count:,} {old} -> {new}")
    print(scored["Segment"].value_counts().to_string())
    return 0


def _with_evidence(model, scored: pd.DataFrame) -> pd.DataFrame:
    """The scored customers with their segment's evidence in words (``Evidence``, after
    ``Recommendation``): what customers like these did next, or that it was not measured."""
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.load import LOG_CURRENCY
    from segkit.pipeline.backtest import segment_evidence

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.views.tables import with_evidence

    return with_evidence(scored, segment_evidence(model, scored["Segment"].astype(str).unique(),
                                                     currency_symbol(scored.attrs.get(LOG_CURRENCY))))


def _score_on_spark(args, model, customers: pd.DataFrame, since) -> int:
    """``score --engine spark``: the segments computed on the executors
    (``segkit.engines.spark.score_on_spark``, the fitted model broadcast once); an ``--out``
    ending in ``.parquet`` is written by Spark (a folder of part files), any other is
    collected and written as CSV. Columns: ``segkit.engines.spark.SCORE_SCHEMA`` and ``Evidence`` (the
    segment's evidence in words, as ``segkit score`` writes it)."""
    # optional: spark (pyspark); scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.engines.spark import score_on_spark, spark_session, with_evidence_on_spark
    from segkit.pipeline.backtest import segment_evidence

    session = spark_session(args.spark_master, args.spark_remote)
    frame = customers[[c for c in model.input_columns_ if c != "CustomerID"]].astype("float64").reset_index()
    frame["CustomerID"] = frame["CustomerID"].astype(str)
    scored = with_evidence_on_spark(score_on_spark(session, session.createDataFrame(frame), model),
                                    segment_evidence(model, model.segment_names_.values(),
                                                     currency_symbol(customers.attrs.get(_log_currency()))))
    if str(args.out).lower().endswith(".parquet"):
        try:
            scored.write.mode("overwrite").parquet(str(Path(args.out).expanduser().resolve()))
        except Exception as exc:  # Spark's own error: the folder cannot be written
            raise SegkitDataError(f"Spark could not write '{args.out}' ({str(exc).splitlines()[0][:120]}); "
                                  "name a writable folder.") from None
        counts = pd.Series({r["Segment"]: r["count"] for r in scored.groupBy("Segment").count().collect()},
                           name="count").sort_values(ascending=False)
    else:
        table = scored.toPandas().sort_values("CustomerID")
        _write_csv(table, args.out)
        counts = table["Segment"].value_counts()
    print(f"scored {int(counts.sum()):,} customers on Spark into {args.out}"
          + (f" (purchases since {since:%Y-%m-%d})" if since is not None else ""))
    print(counts.rename_axis("Segment").to_string())
    return 0


def _clv(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import load_customer_data
    from segkit.value.clv import (
        DEFAULT_PURCHASE_MODEL,
        PURCHASE_MODELS,
        fit_clv,
        gamma_gamma_independence,
        load_params,
        predict_clv,
        rfm_frame,
        save_params,
    )

    if args.engine in ("duckdb", "spark"):
        raise SegkitDataError(f"segkit clv needs the purchase lines in memory; --engine {args.engine} is not "
                              "supported here (use --engine pandas).")
    if args.draws < 0 or args.draws == 1 or not 0 < args.level < 1 or args.holdout_days < 1:
        raise SegkitDataError(f"--draws must be 0 (no intervals) or at least 2, --level between 0 and 1 and "
                              f"--holdout-days at least 1, not {args.draws}, {args.level} and {args.holdout_days}.")
    if args.horizon_months < 1 or not 0 <= args.discount < 1:
        raise SegkitDataError(f"--horizon-months must be at least 1 and --discount between 0 and 1 (0.01 = 1%), "
                              f"not {args.horizon_months} and {args.discount}.")
    until = None
    if args.until:
        try:
            until = pd.Timestamp(args.until)
        except ValueError:
            raise SegkitDataError(f"--until must be a date like 2011-08-31, not '{args.until}'.") from None
    _say_skipped(args)
    data = load_customer_data(args.data, rules=args.rules or "default", **_read_options(args),
                              engine="ibis" if args.engine == "ibis" else "pandas", **_database(args, fetch_lines=True))
    _say_sheets(args)
    rfm = rfm_frame(data.lines, until)
    params_path = Path(args.params) if args.params else None
    if params_path is not None and params_path.exists():
        params = load_params(params_path)
        if args.model and args.model != params["purchase_model"]:
            raise SegkitDataError(f"'{params_path.name}' holds {PURCHASE_MODELS[params['purchase_model']]} parameters, "
                                  f"not {PURCHASE_MODELS[args.model]}; leave out --model, or give a new --params file "
                                  "to fit and write.")
        print(f"{PURCHASE_MODELS[params['purchase_model']]} parameters from {params_path}")
    else:
        params = fit_clv(rfm, args.model or DEFAULT_PURCHASE_MODEL)
        if params_path is not None:
            save_params(params, params_path)
            print(f"saved parameters to {params_path}")
    _warn_independence(gamma_gamma_independence(rfm))
    table = predict_clv(rfm, params, args.horizon_months, args.discount,
                        level=args.level if args.draws else None, draws=args.draws)
    rounded = table.round({"monetary": 2, "p_alive": 4, "expected_purchases_90d": 4, "clv": 2,
                           "clv_low": 2, "clv_high": 2})
    _write_csv(rounded.reset_index(), args.out)
    print(f"wrote {len(table):,} customers to {args.out}: CLV over {args.horizon_months} months "
          f"{table['clv'].sum():,.0f} in total, median P(alive) {table['p_alive'].median():.2f}")
    if args.diagnostics:
        _clv_diagnostics(args, data, params, until)
    return 0


def _clv_diagnostics(args, data, params, until) -> None:
    """``segkit clv --diagnostics OUT_DIR``: refit before the holdout, write the tables and the summary
    (on the lines up to ``--until`` when given)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import lines_until, load_customer_data
    from segkit.value.clv import clv_diagnostics, write_diagnostics

    lines, transactions = data.lines, data.transactions
    if until is not None:
        lines, transactions = lines_until(lines, until), lines_until(transactions, until)
    cutoff = lines["InvoiceDate"].max().normalize() - pd.Timedelta(days=args.holdout_days - 1)
    segments_then = None
    if args.artifacts:
        model = _load_model(Path(args.artifacts))
        early = transactions[transactions["InvoiceDate"] < cutoff]
        segments_then = model.segment(load_customer_data(early, rules=args.rules or "default",
                                                         snapshot_date=cutoff).customers)["Segment"]
    diagnostics = clv_diagnostics(lines, params, cutoff, segments_then)
    written = write_diagnostics(diagnostics, args.diagnostics)
    print(f"\ndiagnostics: {len(written)} files in {args.diagnostics}")
    print((Path(args.diagnostics) / "summary.txt").read_text(encoding="utf-8"), end="")


def _load_model(folder: Path):
    """``load_artifacts``, with a malformed ``model.json`` (segments as a list, ``null``,
    nesting too deep for the JSON reader) refused in one sentence."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import load_artifacts

    try:
        return load_artifacts(folder)
    except SegkitError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError) as exc:
        raise SegkitArtifactError(
            f"'{folder / 'model.json'}' is malformed ({type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else 'no details'}); "
            "retrain with `segkit train`."
        ) from None


def _fetch(args) -> int:
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.fetch import UCI_URL, fetch_data

    path = fetch_data(args.dest, args.url or UCI_URL)
    print(f"saved {path}")
    return 0


def _sample(args) -> int:
    # start-up: pyarrow.parquet and the readers load on first use, not for segkit --help (0.06 s, measured)
    from segkit.ingest.sample import generate_sample_transactions

    frame = generate_sample_transactions(args.customers, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    elif suffix == ".xlsx":
        frame.to_excel(out, index=False, sheet_name="Online Retail")
    else:
        raise SegkitDataError(f"'{out.name}' has an unsupported type; use .csv, .xlsx or .parquet.")
    print(f"wrote {len(frame):,} sample lines to {out}")
    return 0


def _since_date(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise SegkitDataError(f"--since must be a date like 2011-12-01, not '{text}'.") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SegkitDataError(f"--k must be a whole number or 'auto', not '{text}'.") from None
    if value < 2:
        raise SegkitDataError(f"--k must be at least 2, not {value}.")
    return value


def _models(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import list_versions

    folder = args.artifacts or artifacts_dir()
    versions = list_versions(folder)
    if versions.empty:
        print(f"no saved model versions in {folder}; train one with `segkit train`")
        return 0
    versions.insert(0, "", versions.pop("current").map({True: "*", False: ""}))
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(versions.to_string(index=False))
    return 0


def _rollback(args) -> int:
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import rollback

    target = rollback(args.artifacts or artifacts_dir(), args.version)
    print(f"current model is now {target.name}")
    return 0


_COMMANDS = {"features": _features, "train": _train, "score": _score, "backtest": _backtest, "clv": _clv, "fetch-data": _fetch,
             "sample": _sample, "models": _models, "rollback": _rollback}

if __name__ == "__main__":
    sys.exit(main())
