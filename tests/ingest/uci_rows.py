"""A few lines in the UCI layout, as several ingest test modules write them."""
from __future__ import annotations

import pandas as pd

UCI_ROWS = pd.DataFrame({
    "InvoiceNo": ["536365", "536365", "C536379", "536380"],
    "StockCode": ["85123A", "71053", "85123A", "POST"],
    "Description": ["WHITE HANGING HEART T-LIGHT HOLDER", "WHITE METAL LANTERN", "WHITE HANGING HEART T-LIGHT HOLDER", "POSTAGE"],
    "Quantity": [6, 6, -2, 1],
    "InvoiceDate": ["2010-12-01 08:26:00", "2010-12-01 08:26:00", "2010-12-01 09:41:00", "2010-12-01 09:45:00"],
    "UnitPrice": [2.55, 3.39, 2.55, 18.0],
    "CustomerID": [17850.0, 17850.0, 17850.0, None],
    "Country": ["United Kingdom", "United Kingdom", "United Kingdom", "France"],
})
