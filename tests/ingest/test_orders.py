"""Shop exports (segkit.ingest.orders and the layout presets): Shopify's and WooCommerce's
orders exports made from the built-in sample, with refunded, voided, unpaid and partly
refunded orders, read customer by customer as pandas computes them from the sample.

The exports are built from the sample's plain purchase lines (a customer, a positive
quantity and price, a product code, no repeats), so no cleaning rule removes anything and
the expected figures are a groupby of the sample, computed here without segkit.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit import cli
from segkit.errors import SegkitDataError
from segkit.ingest.load import load_transactions
from segkit.ingest.orders import SETTLED_ORDERS, SETTLED_RULES
from segkit.pipeline.workflow import layout_rule, load_customer_data

#: What each order becomes in the export, with its share of the orders.
STATUS_SHARES = {"paid": 0.70, "refunded": 0.07, "voided": 0.06, "partially_refunded": 0.10, "pending": 0.07}


@pytest.fixture(scope="module")
def orders(sample_log) -> pd.DataFrame:
    """The sample's plain purchase lines (nothing for the cleaning rules to remove), each
    order given a status and, when partly refunded, a refund of 10-60 % of its value."""
    lines = sample_log.head(6000)
    plain = lines[lines["CustomerID"].notna() & (lines["Quantity"] > 0) & (lines["UnitPrice"] > 0)
                  & ~lines["InvoiceNo"].str.startswith("C") & lines["StockCode"].str.fullmatch(r"\d{5}[A-Z]?")]
    plain = plain.drop_duplicates().reset_index(drop=True)
    plain = plain[~plain.duplicated(["InvoiceNo", "StockCode"], keep=False)].reset_index(drop=True)
    plain = plain.assign(Email="c" + plain["CustomerID"].astype(int).astype(str) + "@example.com",
                         Value=(plain["Quantity"] * plain["UnitPrice"]).round(2))
    invoices = plain["InvoiceNo"].unique()
    rng = np.random.default_rng(27)
    status = pd.Series(rng.choice(list(STATUS_SHARES), size=len(invoices), p=list(STATUS_SHARES.values())),
                       index=invoices)
    value = plain.groupby("InvoiceNo")["Value"].sum()
    refund = (value * rng.uniform(0.1, 0.6, len(value))).round(2).where(status.reindex(value.index) ==
                                                                         "partially_refunded", 0.0)
    refund = refund.where(status.reindex(value.index) != "refunded", value)
    return plain.assign(Status=plain["InvoiceNo"].map(status), Refund=plain["InvoiceNo"].map(refund))


def expected_customers(orders: pd.DataFrame) -> pd.DataFrame:
    """TotalSpend and NumPurchases per customer: paid and partly refunded orders only, a
    partial refund taken off its order's value."""
    kept = orders[orders["Status"].isin(["paid", "partially_refunded"])]
    per_order = kept.groupby("InvoiceNo").agg(Email=("Email", "first"), Value=("Value", "sum"),
                                             Refund=("Refund", "first"))
    per_order["Net"] = per_order["Value"] - per_order["Refund"]
    return per_order.groupby("Email").agg(TotalSpend=("Net", "sum"), NumPurchases=("Net", "size"))


def shopify_export(orders: pd.DataFrame) -> pd.DataFrame:
    """The lines as Shopify's orders export writes them: one row per line item, the order's
    fields (email, status, payment date, country, refund) on its first row only."""
    first = ~orders.duplicated("InvoiceNo")
    paid = orders["Status"].isin(["paid", "partially_refunded", "refunded"])
    stamp = orders["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S +0000")
    export = pd.DataFrame({
        "Name": "#" + orders["InvoiceNo"], "Email": orders["Email"], "Financial Status": orders["Status"],
        "Paid at": stamp.where(paid), "Fulfillment Status": "fulfilled", "Currency": "GBP",
        "Subtotal": orders.groupby("InvoiceNo")["Value"].transform("sum").round(2),
        "Lineitem quantity": orders["Quantity"], "Lineitem name": orders["Description"],
        "Lineitem price": orders["UnitPrice"], "Lineitem sku": orders["StockCode"],
        "Billing Country": orders["Country"], "Refunded Amount": orders["Refund"],
        "Created at": stamp, "Vendor": "segkit test",
    })
    order_fields = ["Email", "Financial Status", "Paid at", "Currency", "Subtotal", "Billing Country",
                    "Refunded Amount"]
    for column in order_fields:
        export[column] = export[column].astype(object).where(first, None)
    return export


#: WooCommerce's statuses for the test's statuses (a partial refund keeps its order's status).
WOO_STATUS = {"paid": "completed", "refunded": "refunded", "voided": "cancelled", "partially_refunded": "processing",
              "pending": "on-hold"}


def woocommerce_export(orders: pd.DataFrame) -> pd.DataFrame:
    """The lines as WooCommerce's order export ("one row per item") writes them: the
    order's fields on every row, the line's total (not its unit price)."""
    return pd.DataFrame({
        "order_id": orders["InvoiceNo"].astype(int) - 500000, "order_number": orders["InvoiceNo"],
        "order_date": orders["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "status": orders["Status"].map(WOO_STATUS), "order_currency": "GBP",
        "order_total": orders.groupby("InvoiceNo")["Value"].transform("sum").round(2),
        "refunded_total": orders["Refund"], "billing_email": orders["Email"],
        "billing_country": orders["Country"], "customer_id": 0, "item_name": orders["Description"],
        "item_sku": orders["StockCode"], "item_quantity": orders["Quantity"], "item_total": orders["Value"],
    })


EXPORTS = {"shopify": shopify_export, "woocommerce": woocommerce_export}


@pytest.mark.parametrize("shop, layout", [("shopify", None), ("shopify", "shopify"), ("woocommerce", None),
                                          ("woocommerce", "woocommerce")])
def test_a_shop_export_reads_customer_by_customer_net_of_refunds(tmp_path, orders, shop, layout):
    """Refunded, voided and unpaid orders are not purchases; a partly refunded order counts
    its value less the refund; every exclusion is a row of the cleaning report; the layout
    is recognised from the header (layout None) or named, and said in the report."""
    path = tmp_path / f"{shop}.csv"
    EXPORTS[shop](orders).to_csv(path, index=False)
    data = load_customer_data(path, layout=layout, use_cache=False)

    expected = expected_customers(orders)
    got = data.customers[["TotalSpend", "NumPurchases"]].sort_index()
    assert got.index.tolist() == expected.index.tolist()
    np.testing.assert_allclose(got["TotalSpend"], expected["TotalSpend"], rtol=1e-9, atol=1e-6)
    assert got["NumPurchases"].tolist() == expected["NumPurchases"].tolist()

    report = data.report.set_index("rule")
    name = {"shopify": "Shopify orders export", "woocommerce": "WooCommerce orders export"}[shop]
    # in the order the loader took the steps: layout, fill-down (Shopify's later lines), statuses
    steps = [layout_rule(name)] + (["order fields filled down"] if shop == "shopify" else []) + [
        SETTLED_RULES[k] for k in ("refunded", "voided", "unpaid", "partly_refunded")]
    assert [r if not r.startswith("order fields") else "order fields filled down"
            for r in data.report["rule"].tolist()[1:len(steps) + 1]] == steps
    for status, kind in [("refunded", "refunded"), ("voided", "voided"), ("pending", "unpaid")]:
        dropped = orders[orders["Status"] == status]
        row = report.loc[SETTLED_RULES[kind]]
        assert row["rows_removed"] == len(dropped)
        assert row["revenue_removed"] == pytest.approx(dropped["Value"].sum(), abs=0.02)
    refunds = orders.drop_duplicates("InvoiceNo").query("Status == 'partially_refunded'")["Refund"].sum()
    assert report.loc[SETTLED_RULES["partly_refunded"], "revenue_removed"] == pytest.approx(refunds, abs=0.02)
    # "loaded" counts every line of the file, at its gross value; nothing else was removed
    assert report.loc["loaded", "rows_left"] == len(orders)
    assert report.loc["loaded", "revenue_left"] == pytest.approx(orders["Value"].sum(), abs=0.05)
    assert report["rows_left"].iloc[-1] == len(orders[orders["Status"].isin(["paid", "partially_refunded"])])


def test_the_report_rows_survive_the_read_cache_and_add_up_over_a_folder(tmp_path, orders):
    """A second read (parquet copy in the cache) gives the same report; a folder of two
    exports sums each exclusion over its files."""
    export = shopify_export(orders)
    path = tmp_path / "one" / "shop.csv"
    path.parent.mkdir()
    export.to_csv(path, index=False)
    parsed, cached = load_transactions(path), load_transactions(path)  # the second from the parquet copy
    assert cached.attrs == parsed.attrs and set(parsed.attrs[SETTLED_ORDERS]) == set(SETTLED_RULES.values())
    first = load_customer_data(path).report
    pd.testing.assert_frame_equal(load_customer_data(path).report, first)

    halves = tmp_path / "folder"
    halves.mkdir()
    cut = int(export.index[export["Email"].notna()][len(export) // 400])  # an order's first line
    export.iloc[:cut].to_csv(halves / "a.csv", index=False)
    export.iloc[cut:].to_csv(halves / "b.csv", index=False)
    folder = load_customer_data(halves).report.set_index("rule")
    whole = first.set_index("rule")
    for kind in ("refunded", "voided", "unpaid", "partly_refunded"):
        assert folder.loc[SETTLED_RULES[kind], "rows_removed"] == whole.loc[SETTLED_RULES[kind], "rows_removed"]
        assert folder.loc[SETTLED_RULES[kind], "revenue_removed"] == pytest.approx(
            whole.loc[SETTLED_RULES[kind], "revenue_removed"], abs=0.02)


def test_a_uci_file_says_no_layout(sample_log):
    """The UCI layouts are the default reading: no row for them in the report."""
    data = load_customer_data(sample_log.head(3000))
    assert not any(rule.startswith("read as") for rule in data.report["rule"])


def test_a_layout_the_file_is_not(tmp_path, orders):
    path = tmp_path / "woo.csv"
    woocommerce_export(orders).to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'woo.csv' is not a Shopify orders export \(--layout shopify\): it has "
                                              r"no column for customer, date"):
        load_transactions(path, layout="shopify", use_cache=False)


def test_the_roles_of_a_layout_can_be_overridden(tmp_path, orders):
    """--columns overrides single roles of the layout: here the order number instead of its id."""
    path = tmp_path / "woo.csv"
    woocommerce_export(orders).to_csv(path, index=False)
    lines = load_transactions(path, {"invoice": "order_number"}, layout="woocommerce", use_cache=False)
    assert set(lines["InvoiceNo"]) <= set(orders["InvoiceNo"])


def test_an_unknown_status_is_refused_by_name(tmp_path, orders):
    export = woocommerce_export(orders)
    export.loc[3, "status"] = "wc-shipped-ish"
    path = tmp_path / "woo.csv"
    export.to_csv(path, index=False)
    with pytest.raises(SegkitDataError, match=r"'woo.csv' has the financial status\(es\) wc-shipped-ish in column "
                                              r"'status', which segkit does not know; known: paid, "):
        load_transactions(path, use_cache=False)


def test_a_partial_refund_without_an_amount_is_refused(orders):
    export = shopify_export(orders).drop(columns="Refunded Amount")
    with pytest.raises(SegkitDataError, match=r"has partly refunded orders \(e.g. #\d+\) without a refunded amount \(blank or 0\); "
                                              r"their net spend is not known: map the order's refunded amount"):
        load_customer_data(export)


def test_the_other_engines_refuse_order_statuses(tmp_path, orders):
    """The out-of-core engine does not apply statuses and refunds: it refuses the log,
    naming --engine pandas, rather than count refunded orders as purchases."""
    path = tmp_path / "shop.parquet"
    export = shopify_export(orders)
    export["Paid at"] = pd.to_datetime(export["Paid at"].str[:19])
    export.to_parquet(path)
    with pytest.raises(SegkitDataError, match=r"'shop.parquet' has order statuses or refunds \(column 'Financial "
                                              r"Status' and 'Refunded Amount'\); this engine does not apply them: "
                                              r"use --engine pandas"):
        load_customer_data(path, engine="duckdb")


@pytest.mark.parametrize("shop, layout", [("shopify", None), ("woocommerce", "woocommerce")])
def test_the_database_and_spark_tables_refuse_order_statuses(orders, shop, layout):
    """``canonical_table`` (the ibis and Spark engines' reading of a table) refuses a shop
    export's statuses and refunds too, by the same sentence."""
    import ibis

    from segkit.engines.base import canonical_table
    from segkit.ingest.load import with_layout
    from segkit.schema import LINE_NUMBER

    raw = ibis.memtable(EXPORTS[shop](orders).assign(**{LINE_NUMBER: range(len(orders))}))
    with pytest.raises(SegkitDataError, match=r"^'orders' has order statuses or refunds \(column '.+' and '.+'\); "
                                              r"this engine does not apply them: use --engine pandas"):
        canonical_table(raw, "orders", with_layout(None, layout))


def test_cli_layout_and_a_bad_layout_name(tmp_path, orders, capsys):
    """--layout reaches the loader like --columns; an unknown name is one sentence, exit 2."""
    path = tmp_path / "shop.csv"
    shopify_export(orders).to_csv(path, index=False)
    out = tmp_path / "customers.csv"
    assert cli.main(["features", "--data", str(path), "--layout", "shopify", "--out", str(out)]) == 0
    table = pd.read_csv(out, index_col="CustomerID")
    expected = expected_customers(orders)
    currency = shopify_export(orders)["Currency"].dropna().unique()
    assert len(currency) == 1  # Shopify names the shop's currency: the money headings carry it
    heading = f"TotalSpend ({ {'GBP': '£', 'EUR': '€', 'USD': '$'}.get(currency[0], currency[0]) })"
    np.testing.assert_allclose(table.loc[expected.index, heading], expected["TotalSpend"], rtol=1e-9, atol=1e-6)
    capsys.readouterr()

    assert cli.main(["features", "--data", str(path), "--layout", "shopfy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("segkit: error: 'shopfy' is not a layout segkit knows; use --layout uci, shopify, woocommerce, "
                   "or leave --layout out to recognise the layout from the file's header.\n")


@pytest.mark.real_data
def test_real_data_as_a_shopify_export_reads_as_the_plain_file(tmp_path, real_parquet):
    """The real log exported the way Shopify exports orders (order fields on an order's first
    line only, every order paid) reads to the same customer table as the plain file of the
    same orders (each line with its order's customer, date and country)."""
    lines = pd.read_parquet(real_parquet)
    first = ~lines["InvoiceNo"].duplicated()
    order_fields = {"CustomerID": "Email", "InvoiceDate": "Paid at", "Country": "Billing Country"}
    plain = lines.copy()
    for column in order_fields:
        plain[column] = lines["InvoiceNo"].map(lines.loc[first].set_index("InvoiceNo")[column])
    export = pd.DataFrame({
        "Name": lines["InvoiceNo"], "Email": plain["CustomerID"], "Financial Status": "paid",
        "Paid at": plain["InvoiceDate"], "Currency": "GBP", "Lineitem quantity": lines["Quantity"],
        "Lineitem name": lines["Description"], "Lineitem price": lines["UnitPrice"],
        "Lineitem sku": lines["StockCode"], "Billing Country": plain["Country"], "Refunded Amount": 0.0,
    })
    for column in [*order_fields.values(), "Financial Status", "Currency", "Refunded Amount"]:
        export[column] = export[column].where(first)
    path = tmp_path / "shopify.parquet"
    export.to_parquet(path)
    expected = load_customer_data(plain, use_cache=False)
    got = load_customer_data(path, engine="pandas", use_cache=False)
    pd.testing.assert_frame_equal(got.customers, expected.customers)
    assert got.report["rule"].tolist()[1] == layout_rule("Shopify orders export")
    assert got.report["rows_left"].iloc[-1] == expected.report["rows_left"].iloc[-1]


def test_a_few_shop_column_names_are_not_a_shop_layout():
    """Without --layout a shop layout is taken only when the file has its order, customer,
    date, quantity and price columns: an "Email" and a "Name" column alone are not Shopify's."""
    frame = pd.DataFrame({"Name": ["Ann"], "Email": ["ann@example.com"], "Created at": ["2011-01-05"], "Total": [3.0]})
    with pytest.raises(SegkitDataError, match=r"has no column for customer, date, price \(or amount\); found: Name, "
                                              r"Email, Created at, Total"):
        load_customer_data(frame)
    lines = load_customer_data(frame, {"amount": "Total"}, layout="shopify").transactions
    assert lines["CustomerID"].tolist() == ["ann@example.com"] and lines["InvoiceNo"].tolist() == ["Ann"]


def test_a_growing_shop_export_is_read_whole(tmp_path, orders):
    """An order's status and refund apply to all its lines, which may straddle what a
    growing CSV had and what it gained: such a file is read whole, never its new part alone."""
    from segkit.ingest.logs import read_grown_csv

    path = tmp_path / "shop.csv"
    text = shopify_export(orders).to_csv(index=False)
    path.write_text(text)
    old_size = len(text[:len(text) // 2].rsplit("\n", 1)[0].encode()) + 1
    assert read_grown_csv(path, old_size, True) is None


#: The header WooCommerce Customer/Order/Coupon Export (SkyVerge) writes in its "Default -
#: One Row per Item" CSV format, in its order (the plugin's order CSV generator, 3.x; the
#: 5.x format definition lists the same keys as its data sources).
WOOCOMMERCE_ONE_ROW_PER_ITEM = [
    "order_id", "order_number", "order_date", "status", "shipping_total", "shipping_tax_total", "fee_total",
    "fee_tax_total", "tax_total", "discount_total", "order_total", "refunded_total", "order_currency",
    "payment_method", "shipping_method", "customer_id", "billing_first_name", "billing_last_name", "billing_company",
    "billing_email", "billing_phone", "billing_address_1", "billing_address_2", "billing_postcode", "billing_city",
    "billing_state", "billing_country", "shipping_first_name", "shipping_last_name", "shipping_address_1",
    "shipping_address_2", "shipping_postcode", "shipping_city", "shipping_state", "shipping_country",
    "shipping_company", "customer_note", "item_name", "item_sku", "item_quantity", "item_tax", "item_total",
    "item_refunded", "item_refunded_qty", "item_meta", "shipping_items", "fee_items", "tax_items", "coupons",
    "order_notes", "download_permissions_granted",
]


def test_the_woocommerce_preset_reads_the_plugins_own_header(tmp_path):
    """The preset's columns are the plugin's (checked against its source): a file with exactly
    its header is recognised, each role from the right column, shipping and tax left out."""
    from segkit.ingest.load import load_transactions
    from segkit.schema import best_layout

    layout, roles = best_layout(WOOCOMMERCE_ONE_ROW_PER_ITEM)
    assert layout == "WooCommerce orders export"
    assert roles == {"invoice": "order_id", "customer": "billing_email", "date": "order_date",
                     "quantity": "item_quantity", "amount": "item_total", "product": "item_sku",
                     "description": "item_name", "country": "billing_country", "currency": "order_currency",
                     "financial_status": "status", "refunded_amount": "refunded_total"}
    rows = pd.DataFrame([dict.fromkeys(WOOCOMMERCE_ONE_ROW_PER_ITEM, "") for _ in range(3)])
    rows["order_id"], rows["order_number"] = ["101", "101", "102"], ["101", "101", "102"]
    rows["order_date"] = ["2024-03-01 10:00:00", "2024-03-01 10:00:00", "2024-03-02 11:30:00"]
    rows["status"], rows["order_currency"] = ["completed", "completed", "on-hold"], "EUR"
    rows["billing_email"] = ["Ann@Example.com", "ann@example.com ", "bob@example.com"]
    rows["billing_country"], rows["item_sku"] = ["DE", "DE", "FR"], ["A1", "B2", "A1"]
    rows["item_quantity"], rows["item_total"] = ["2", "1", "3"], ["10.00", "4.50", "15.00"]
    rows["shipping_total"], rows["item_tax"], rows["refunded_total"] = "4.90", "1.90", "0.00"
    path = tmp_path / "orders-export.csv"
    rows.to_csv(path, index=False)
    lines = load_transactions(path, use_cache=False)
    assert lines.attrs["currency"] == "EUR"
    assert lines["InvoiceNo"].tolist() == ["101", "101"]  # 102 is on hold: not a purchase
    assert lines["CustomerID"].tolist() == ["ann@example.com", "ann@example.com"]
    assert lines["UnitPrice"].tolist() == [5.0, 4.5]  # the line's total over its quantity, no tax or shipping


def _woocommerce_with_shipping_and_tax(item_refunded: bool = True) -> pd.DataFrame:
    """A hand-made WooCommerce export (the plugin's header) whose orders carry shipping and
    tax, so an order's refunded_total is more than its items' refund: 202 got back item B
    (10.00) with its tax (2.00) and the shipping (5.00), 17.00 in all; 205 got back its
    shipping only; 203 was refunded in full (items, shipping and tax)."""
    lines = [  # order, status, email, sku, quantity, item_total, item_refunded, shipping, tax, refunded_total
        ("201", "completed", "ann@example.com", "A", 2, 10.00, 0.0, 4.90, 2.90, 0.00),
        ("201", "completed", "ann@example.com", "B", 1, 4.50, 0.0, 4.90, 2.90, 0.00),
        ("202", "completed", "ann@example.com", "A", 2, 20.00, 0.0, 5.00, 6.00, 17.00),
        ("202", "completed", "ann@example.com", "B", 1, 10.00, 10.0, 5.00, 6.00, 17.00),
        ("203", "refunded", "bob@example.com", "C", 3, 15.00, 15.0, 5.00, 4.00, 24.00),
        ("204", "completed", "bob@example.com", "A", 1, 8.00, 0.0, 0.00, 0.00, 0.00),
        ("205", "completed", "cy@example.com", "D", 4, 12.00, 0.0, 5.00, 0.00, 5.00),
    ]
    rows = pd.DataFrame([dict.fromkeys(WOOCOMMERCE_ONE_ROW_PER_ITEM, "") for _ in lines])
    for i, (order, status, email, sku, quantity, total, refunded, shipping, tax, refund) in enumerate(lines):
        items = sum(line[5] for line in lines if line[0] == order)
        rows.loc[i, ["order_id", "order_number", "status", "billing_email", "item_sku"]] = [order, order, status,
                                                                                           email, sku]
        rows.loc[i, ["item_quantity", "item_total", "item_refunded", "shipping_total", "tax_total", "order_total",
                     "refunded_total"]] = [str(quantity), f"{total:.2f}", f"{refunded:.2f}", f"{shipping:.2f}",
                                           f"{tax:.2f}", f"{items + shipping + tax:.2f}", f"{refund:.2f}"]
    rows["order_date"] = "2024-03-0" + rows["order_id"].str[-1] + " 10:00:00"
    rows["order_currency"], rows["billing_country"] = "EUR", "DE"
    return rows if item_refunded else rows.drop(columns=["item_refunded", "item_refunded_qty"])


def test_a_woocommerce_refund_nets_the_items_only_not_the_shipping_and_tax_it_includes(tmp_path):
    path = tmp_path / "orders-export.csv"
    _woocommerce_with_shipping_and_tax().to_csv(path, index=False)
    lines = load_transactions(path, use_cache=False)
    spend = (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["CustomerID"]).sum()
    # ann: 201 whole (14.50) and 202 less item B (30.00 - 10.00); bob: 204 (203 refunded in
    # full); cy: 205's items (its refund was the shipping); not 27.50 and 7.00 (refunded_total off the items)
    assert spend.round(2).to_dict() == {"ann@example.com": 34.50, "bob@example.com": 8.00, "cy@example.com": 12.00}
    assert sorted(lines["InvoiceNo"].unique()) == ["201", "202", "204", "205"]
    settled = lines.attrs[SETTLED_ORDERS]
    assert settled[SETTLED_RULES["refunded"]] == [1, 15.00]
    assert settled[SETTLED_RULES["partly_refunded"]] == [0, 10.00]

    # refunded in full while still 'completed' (the refund covers the order's total): not a purchase
    rows = _woocommerce_with_shipping_and_tax()
    rows.loc[rows["order_id"] == "203", "status"] = "completed"
    rows.to_csv(path, index=False)
    assert "203" not in load_transactions(path, use_cache=False)["InvoiceNo"].tolist()


def test_a_woocommerce_partial_refund_that_cannot_be_split_from_shipping_and_tax_is_refused(tmp_path):
    """Without item_refunded, an order with shipping or tax partly refunded has no known
    items' refund: refused in one sentence (its refund is not taken off the items whole)."""
    path = tmp_path / "orders-export.csv"
    _woocommerce_with_shipping_and_tax(item_refunded=False).to_csv(path, index=False)
    with pytest.raises(SegkitDataError) as refused:
        load_transactions(path, use_cache=False)
    assert str(refused.value) == (
        "'orders-export.csv' has partly refunded orders (e.g. 202: 17.00 refunded of an order total of 41.00, items "
        "30.00) whose refunded_total includes shipping and tax, so the items' part is not known; export the "
        "item_refunded column too (WooCommerce's one row per item format), or map the items' refund with --columns "
        "refunded_amount=<name>.")
    # orders of items alone (order_total = the items) need no split: the refund is the items'
    rows = _woocommerce_with_shipping_and_tax(item_refunded=False)
    rows["shipping_total"], rows["tax_total"] = "0.00", "0.00"
    rows["order_total"] = rows.groupby("order_id")["item_total"].transform(lambda t: f"{t.astype(float).sum():.2f}")
    rows.loc[rows["order_id"] == "202", "refunded_total"] = "10.00"
    rows.loc[rows["order_id"] == "203", "refunded_total"] = "15.00"
    rows.loc[rows["order_id"] == "205", "refunded_total"] = "0.00"
    rows.to_csv(path, index=False)
    lines = load_transactions(path, use_cache=False)
    spend = (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["CustomerID"]).sum()
    assert spend.round(2).to_dict() == {"ann@example.com": 34.50, "bob@example.com": 8.00, "cy@example.com": 12.00}
