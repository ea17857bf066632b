"""Log files for the live tests: a log split by month, written as settled files, a live log refreshed once."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from segkit.live.live_log import LiveLog


def months_of(log: pd.DataFrame) -> dict[str, pd.DataFrame]:
    month = pd.to_datetime(log["InvoiceDate"]).dt.strftime("%Y-%m")
    return {m: log[month == m] for m in sorted(month.unique())}


def write_settled(frame: pd.DataFrame, path: Path, age: float = 3600) -> Path:
    """Write a log file in one go (a temporary name, then renamed, so a page watching the
    folder never sees it half-written) dated ``age`` seconds back (settled)."""
    partial = path.with_name(path.name + ".part")
    if path.suffix == ".csv":
        frame.to_csv(partial, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(partial, index=False, engine="openpyxl")
    else:
        frame.to_parquet(partial, index=False)
    stamp = time.time() - age
    os.utime(partial, (stamp, stamp))
    os.replace(partial, path)
    return path


def refreshed_live_log(folder: Path, model, **kw) -> LiveLog:
    live = LiveLog(folder, model, allow_short_window=True, settle=0, **kw)
    live.refresh()
    return live


def artifacts_of(model, tmp_path: Path) -> Path:
    from segkit.pipeline.artifacts import save_artifacts

    folder = tmp_path / "artifacts"
    save_artifacts(model, folder, model.card_.get("training_data"))
    return folder


def halves(months) -> list[tuple[str, pd.DataFrame]]:
    """The last two months in four files (the folder fixture holds the months before)."""
    out = []
    for month, frame in list(months.items())[-2:]:
        day = pd.to_datetime(frame["InvoiceDate"]).dt.day
        out += [(f"{month}-a.parquet", frame[day <= 15]), (f"{month}-b.parquet", frame[day > 15])]
    return out


def append_csv(frame: pd.DataFrame, path: Path, age: float = 3600) -> None:
    frame.to_csv(path, mode="a", header=False, index=False)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def with_a_line_break_in_country(frame: pd.DataFrame) -> str:
    """``frame`` as CSV lines whose last one has its Country quoted over two lines."""
    frame = frame.copy()
    frame.loc[frame.index[-1], "Country"] = "United\nKingdom"
    return frame.to_csv(index=False, header=False)
