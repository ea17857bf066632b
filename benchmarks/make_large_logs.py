"""Write large synthetic logs (UCI layout, parquet) for the scale benchmarks.

Files go to a folder outside git (default ``.cache/large/``, which is ignored). Usage:
    python benchmarks/make_large_logs.py 10M 100M [--folder DIR] [--seed 0] [--chunk-lines 1000000]
Sizes accept K/M suffixes. Prints the time and size of each file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = ROOT / ".cache" / "large"


def parse_size(text: str) -> int:
    """'10M' -> 10_000_000, '200K' -> 200_000, '5000' -> 5000."""
    text = text.strip().upper().replace("_", "")
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def log_path(folder: Path, n_lines: int, seed: int = 0) -> Path:
    label = f"{n_lines // 1_000_000}M" if n_lines % 1_000_000 == 0 else f"{n_lines}"
    return folder / f"log_{label}_seed{seed}.parquet"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="+", help="numbers of lines, e.g. 10M 100M")
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-lines", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from segkit.ingest.sample import customers_for_lines, write_large_log

    for size in map(parse_size, args.sizes):
        path = log_path(args.folder, size, args.seed)
        start = time.perf_counter()
        write_large_log(path, size, seed=args.seed, chunk_lines=args.chunk_lines)
        elapsed = time.perf_counter() - start
        print(f"{path}: {size:,} lines, ~{customers_for_lines(size):,} customers, "
              f"{path.stat().st_size / 1e9:.2f} GB, {elapsed:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
