"""Peak memory of ``segkit score`` against ``segkit features`` on one large parquet log.

The log is the real Online Retail parquet repeated ``--copies`` times (each copy's invoice
numbers suffixed, so no copy is a duplicate of another), written outside the repository
(default ``/tmp/segkit-bench``). Each command runs as its own process under
``/usr/bin/time -v`` with an empty cache folder; its maximum resident set size is printed.
``--code DIR`` runs another checkout's segkit (for a before/after comparison). Usage:

    python benchmarks/bench_score_memory.py [--data /work/shared/data] [--copies 18] [--code DIR]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repeated_log(real: Path, copies: int, folder: Path) -> Path:
    """The real parquet ``copies`` times over, written one copy at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = folder / f"online_retail_x{copies}.parquet"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(real)
    partial = out.with_suffix(".part")
    with pq.ParquetWriter(partial, table.schema) as writer:
        for copy in range(copies):
            suffix, nothing = pa.scalar(f"-r{copy}", pa.large_string()), pa.scalar("", pa.large_string())
            invoices = pc.binary_join_element_wise(table["InvoiceNo"], suffix, nothing)
            writer.write_table(table.set_column(0, "InvoiceNo", invoices), row_group_size=1_000_000)
    partial.rename(out)
    return out


def peak_rss_mb(argv: list[str], code: Path) -> tuple[float, float, int]:
    """Max RSS (MB), wall seconds and exit code of ``python -m segkit.cli argv`` run from ``code``."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(code), "SEGKIT_CACHE": cache}
        done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "segkit.cli", *argv], env=env,
                              capture_output=True, text=True, cwd=code)
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 1024
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock.split(":"))))
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return rss, seconds, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SEGKIT_REAL_DATA", "/work/shared/data")))
    parser.add_argument("--copies", type=int, default=18)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/segkit-bench"))
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose segkit runs")
    parser.add_argument("--engine", default="auto")
    args = parser.parse_args()
    log = repeated_log(args.data / "online_retail.parquet", args.copies, args.folder)
    import pyarrow.parquet as pq

    print(f"log: {log} ({pq.ParquetFile(log).metadata.num_rows:,} lines); code: {args.code}")
    out = args.folder / "out.csv"
    artifacts = args.code / "artifacts"
    for name, argv in (("features", ["features", "--data", str(log), "--engine", args.engine, "--out", str(out)]),
                       ("score", ["score", "--data", str(log), "--engine", args.engine, "--artifacts", str(artifacts),
                                  "--allow-short-window", "--out", str(out)])):
        rss, seconds, code = peak_rss_mb(argv, args.code)
        print(f"{name:9s} peak RSS {rss:8,.0f} MB  wall {seconds:6.1f} s  exit {code}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
