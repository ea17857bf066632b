"""Hand-made logs for the backtest and threshold tests: one mug line per purchase."""
from __future__ import annotations

import numpy as np
import pandas as pd


def mug_buyer(rows: list[dict], rng: np.random.Generator):
    """A ``buy(customer, day)`` that appends one clean line (a mug, 1-19 of them at £1.25,
    £2.50 or £4.95, at 10:00 on ``day``) to ``rows``."""

    def buy(customer, day) -> None:
        rows.append({"InvoiceNo": f"{len(rows):06d}", "StockCode": "A1", "Description": "MUG",
                     "Quantity": int(rng.integers(1, 20)), "InvoiceDate": day + pd.Timedelta(hours=10),
                     "UnitPrice": float(rng.choice([1.25, 2.5, 4.95])), "CustomerID": str(customer),
                     "Country": "United Kingdom"})

    return buy
