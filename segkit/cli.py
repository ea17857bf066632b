"""Command line: ``segkit features | train | score | fetch-data | sample``.

Bad input ends with exit code 2 and one line on stderr (file, problem, fix), never a
traceback (set ``SEGKIT_DEBUG=1`` to see one). A failed run changes nothing in the
artifacts folder.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from .config import DATA_DIR, artifacts_dir
from .errors import SegkitError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segkit", description="Customer segmentation for retail transaction logs.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument("--data", required=required, help="transaction file (.xlsx, .csv, .parquet); "
                       "default: data/ or the built-in sample" if not required else "transaction file (.xlsx, .csv, .parquet)")
        p.add_argument("--columns", help="column mapping ROLE=COLUMN,... (roles: customer, invoice, date, quantity, "
                       "price, amount, product, description, country)")
        p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
        p.add_argument("--rules", choices=["default", "seed"], default="default", help="cleaning rules")
        p.add_argument("--engine", choices=["auto", "pandas", "duckdb"], default="auto",
                       help="auto (default): DuckDB out of core for parquet logs over 5M lines, else pandas")

    p = sub.add_parser("features", help="write one row of features per customer")
    data_options(p)
    p.add_argument("--out", required=True, help="output CSV")

    p = sub.add_parser("train", help="train, print the report and save the model")
    data_options(p, required=False)
    p.add_argument("--k", default="auto", help="number of segments, or 'auto' (default)")
    p.add_argument("--preset", choices=["default", "seed"], default="default",
                   help="features: default = Recency, NumPurchases, TotalSpend (log); seed = the original's")
    p.add_argument("--artifacts", default=None, help="folder for the saved model (default: artifacts/)")

    p = sub.add_parser("score", help="assign saved segments to the customers in a file")
    data_options(p)
    p.add_argument("--artifacts", default=None, help="folder of the saved model (default: artifacts/)")
    p.add_argument("--out", required=True, help="output CSV")

    p = sub.add_parser("fetch-data", help="download the UCI Online Retail workbook")
    p.add_argument("--dest", default=str(DATA_DIR), help="folder to save it in (default: data/)")
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("sample", help="write the built-in sample log to a file")
    p.add_argument("--out", required=True, help="output file (.csv, .xlsx or .parquet)")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
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


def _mapping(args):
    from .load import parse_column_mapping

    return parse_column_mapping(args.columns)


def _write_csv(frame: pd.DataFrame, out: str) -> None:
    from .export import to_safe_csv

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(to_safe_csv(frame), encoding="utf-8")


def _features(args) -> int:
    from .workflow import load_customer_data

    data = load_customer_data(args.data, _mapping(args), args.rules, args.sheet, engine=args.engine)
    _write_csv(data.customers.reset_index(), args.out)
    print(f"wrote {len(data.customers):,} customers to {args.out}")
    return 0


def _train(args) -> int:
    from .artifacts import save_artifacts
    from .workflow import load_customer_data, train_model

    k = args.k if args.k == "auto" else _positive_int(args.k)
    data = load_customer_data(args.data, _mapping(args), args.rules, args.sheet, engine=args.engine)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"data: {data.source}" + ("  [SAMPLE DATA]" if data.is_sample else ""))
        print("\ncleaning report")
        if data.report is None:
            print(f"  cleaned out of core with DuckDB (rules '{data.rules}'): {len(data.customers):,} customers")
        else:
            print(data.report.to_string(index=False))
        model, table = train_model(data, k=k, preset=args.preset)
        if table is not None:
            print(f"\nmetrics per K (on {table.attrs['sample_size']:,} customers)")
            print(table.round(3).to_string())
            print(f"recommended K: {model.n_clusters}")
        tiers = f"K={model.n_clusters} value tiers" if model.lifecycle is not None else f"K={model.n_clusters}"
        print(f"\nsegments ({tiers})")
        print(model.profile_.drop(columns="Recommendation").round(2).to_string())
        print("\nwhat the segments mean")
        for name, row in model.definitions_.iterrows():
            print(f"  {name}: {row['Definition']}\n      {row['InNumbers']}\n      do: {row['Recommendation']}")
    card = save_artifacts(model, args.artifacts or artifacts_dir(), data.training_info())
    print(f"\nsaved model to {card.parent}")
    return 0


def _score(args) -> int:
    from .artifacts import load_artifacts
    from .workflow import customers_for_scoring

    model = load_artifacts(args.artifacts or artifacts_dir())
    customers = customers_for_scoring(args.data, model, _mapping(args), args.sheet, args.rules, args.engine)
    scored = model.segment(customers)
    _write_csv(scored.reset_index(), args.out)
    print(f"scored {len(scored):,} customers into {args.out}")
    print(scored["Segment"].value_counts().to_string())
    return 0


def _fetch(args) -> int:
    from .fetch import UCI_URL, fetch_data

    path = fetch_data(args.dest, args.url or UCI_URL)
    print(f"saved {path}")
    return 0


def _sample(args) -> int:
    from .sample import generate_sample_transactions
    from .errors import SegkitDataError

    frame = generate_sample_transactions(args.customers, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(out, index=False, sheet_name="Online Retail")
    else:
        raise SegkitDataError(f"'{out.name}' has an unsupported type; use .csv, .xlsx or .parquet.")
    print(f"wrote {len(frame):,} sample lines to {out}")
    return 0


def _positive_int(text: str) -> int:
    from .errors import SegkitDataError

    try:
        value = int(text)
    except ValueError:
        raise SegkitDataError(f"--k must be a whole number or 'auto', not '{text}'.") from None
    if value < 2:
        raise SegkitDataError(f"--k must be at least 2, not {value}.")
    return value


_COMMANDS = {"features": _features, "train": _train, "score": _score, "fetch-data": _fetch, "sample": _sample}

if __name__ == "__main__":
    sys.exit(main())
