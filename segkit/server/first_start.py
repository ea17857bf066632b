"""The first start on new data: train and save the model before the page opens.

``python -m segkit.server.serve`` (``make run``) runs ``main`` before Voilà starts. When
the saved model (``config.artifacts_dir()``) is missing, unreadable or was trained on other
data than the page shows (the page's own test: ``model_fits_data`` on
``load_dashboard_data``; a followed folder takes any saved model), ``prepare_model`` runs
``segkit train`` (so the model has lifetime value and the backtest's evidence) and says, in
two lines for the operator, what it did and how long it took. The full training report goes
to ``<cache>/first-start-train.txt``, not to the terminal. When it cannot, ``main`` says why
in one sentence and exits with 2: the server does not start, because a page without its
model is a fault the operator must see, not one a viewer should find.

Without this the page trained a model of its own for every visitor, without lifetime
value, and had to explain why: words for the operator in front of a read-only viewer.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from segkit.config import DATA_DIR, artifacts_dir, cache_dir, default_data_path
from segkit.errors import SegkitArtifactError, SegkitError

__all__ = ["FirstStart", "model_missing", "prepare_model", "TRAIN_REPORT"]

#: The training report of the last first start, in the cache folder.
TRAIN_REPORT = "first-start-train.txt"


@dataclass(frozen=True)
class FirstStart:
    """What ``prepare_model`` did: ``trained`` (False: the saved model fits the data),
    ``seconds`` it took, ``lines`` it printed, ``report``: the training report's file."""

    trained: bool
    seconds: float
    lines: tuple[str, ...]
    report: Path | None = None


def model_missing(artifacts: Path, data=None) -> str:
    """Why the page would not use the saved model in ``artifacts`` for ``data`` (a
    ``CustomerData``), in words for the operator; "" when it would. ``data`` ``None``: a
    page following a folder, which uses any readable saved model (new files are scored
    with it, never trained on: ``dashboard.live_panel.open_live_state``)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import read_model_card
    from segkit.pipeline.workflow import model_fits_data

    try:
        card = read_model_card(artifacts)
    except SegkitArtifactError as exc:
        text = str(exc).rstrip(".")
        return f"no saved model in {artifacts}" if text.startswith("No saved model") else text
    if data is None or model_fits_data(card, data):
        return ""
    trained = card.get("training_data", {})
    return f"the saved model in {artifacts} was trained on other data ({trained.get('source', 'unknown')})"


def _page_data(artifacts: Path):
    """The data the page would show with the model in ``artifacts`` (its options)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.page.data import load_dashboard_data

    return load_dashboard_data(None, artifacts)


def _value_line(report: str) -> str:
    """The training report's lifetime-value line ("" when it fitted one)."""
    for line in report.splitlines():
        if line.startswith("lifetime value: not fitted"):
            said = line.removeprefix("lifetime value: ").strip()
            return f"{said}: SEGKIT_CLV=0" if said == "not fitted" and os.environ.get("SEGKIT_CLV") == "0" else said
    return ""


def prepare_model(say: Callable[[str], None] = print) -> FirstStart:
    """Make sure the page will find a saved model trained on its data: when there is none
    (``model_missing``), train and save one as ``segkit train`` does (data from
    ``config.default_data_path()``, model to ``config.artifacts_dir()``, lifetime value
    unless ``SEGKIT_CLV=0``). Says what it did through ``say``: one line when nothing was
    needed, two when it trained (and one before them on the built-in sample, saying where
    the server looks for data).

    Raises ``SegkitError`` with one sentence when the data cannot be read or training fails.
    """
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.live.live_page import follows_folder

    started = time.perf_counter()
    artifacts = artifacts_dir()
    if follows_folder(None) and not model_missing(artifacts):  # the page reads the folder with any saved model
        source = default_data_path()
        lines = (f"Using the saved model in {artifacts} for the folder {source}: new files are scored with it.",)
        say(lines[0])
        return FirstStart(False, time.perf_counter() - started, lines)
    data = _page_data(artifacts)
    if data.is_sample:  # the page only says it is the sample; how to change that is said here
        say(f"No data file in {DATA_DIR} (nor SEGKIT_DATA): the page shows the built-in sample. Put CSV, "
            "XLSX or parquet files of transactions there (or set SEGKIT_DATA=/path/to/file-or-folder) and restart.")
    why = model_missing(artifacts, data)
    if not why:
        lines = (f"Using the saved model in {artifacts}: it was trained on {data.source}.",)
        for line in lines:
            say(line)
        return FirstStart(False, time.perf_counter() - started, lines)
    first = (f"First start on {data.source}: {why}. Training and saving the model first, as `segkit train` does "
             f"({len(data.customers):,} customers) ...")
    say(first)
    # The command itself, in a process of its own (the command line sits above the server's layer).
    done = subprocess.run([sys.executable, "-m", "segkit.cli", "train", "--artifacts", str(artifacts)],
                          capture_output=True, text=True)
    code, out, err = done.returncode, done.stdout, done.stderr
    report_text = out + ("\n" + err if err else "")
    report = cache_dir() / TRAIN_REPORT
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(report_text)
    except OSError:
        report = None
    seconds = time.perf_counter() - started
    if code != 0:
        errors = [line for line in err.splitlines() if line.startswith("segkit:")]
        reason = errors[-1].removeprefix("segkit: error: ").removeprefix("segkit: ") if errors else f"exit code {code}"
        raise SegkitError(f"Training the model for {data.source} failed after {seconds:.0f} s: {reason.rstrip('.')} "
                          f"(the training report: {report}); fix that, or start the server with --no-train to let "
                          "each page compute its own segments.")
    without = _value_line(out)
    value = f"without lifetime value ({without})" if without else "with lifetime value"
    second = f"Trained and saved the model to {artifacts} in {seconds:.0f} s, {value}"
    second += f"; training report: {report}." if report else "."
    if not follows_folder(None) and model_missing(artifacts, _page_data(artifacts)):
        second += " The page's data does not match what was trained on: pages will compute their own segments."
    say(second)
    return FirstStart(True, seconds, (first, second), report)


def main() -> int:
    """``python -m segkit.server.first_start``: ``prepare_model`` in a process of its own
    (``serve`` runs it so): its lines on stdout; on failure one sentence on stderr, exit 2."""
    try:
        prepare_model(lambda line: print(line, flush=True))
    except SegkitError as exc:
        text = str(exc).rstrip(".")
        print(f"segkit: error: the dashboard was not started: {text[:1].lower() + text[1:]}.", file=sys.stderr,
              flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
