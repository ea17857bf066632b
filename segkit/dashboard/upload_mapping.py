"""The upload's column mapping: the page's ``--columns``.

When the page cannot tell which column of an uploaded file is the customer, the date, the
price, ... (``segkit.ingest.load.ColumnsNotRecognised``), it offers one list per role,
each holding the file's columns (the roles a known layout recognises chosen already), and a
button that reads the file again with the columns chosen. The file is kept in memory only
while the mapping is offered (until it is read, or another file is uploaded).
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as W

from segkit.dashboard.widgets import classed
from segkit.schema import best_layout

__all__ = ["MAPPED_ROLES", "MAPPING_CONTROL", "READ_BUTTON", "NOT_CHOSEN", "guessed_mapping", "ColumnMapping"]

#: The roles the page offers, in order, with the label of their list.
MAPPED_ROLES = {
    "customer": "Customer", "invoice": "Invoice / order", "date": "Date", "quantity": "Quantity",
    "price": "Unit price", "amount": "Line amount", "product": "Product code", "description": "Description",
    "country": "Country", "currency": "Currency", "financial_status": "Financial status",
    "refunded_amount": "Refunded amount",
}
#: What the page's sentences call the control, and its button.
MAPPING_CONTROL = "Columns lists below the upload button"
READ_BUTTON = "Score with these columns"
#: The entry of a list for "this file has no such column".
NOT_CHOSEN = "(none)"


def guessed_mapping(columns: list[str]) -> dict[str, str]:
    """Role -> column of the roles a known layout (UCI, Shopify, WooCommerce) recognises
    among ``columns``: what the lists start from."""
    return {role: column for role, column in best_layout(columns)[1].items() if role in MAPPED_ROLES}


class ColumnMapping:
    """One list per role (``MAPPED_ROLES``) over an upload's columns and the button that
    reads the upload again with them (``on_read(name, content, mapping)``)."""

    def __init__(self, on_read: Callable[[str, bytes, dict[str, str]], None]):
        self.on_read = on_read
        self.name: str | None = None
        self.content: bytes = b""
        self.lists = {role: classed(W.Dropdown(options=[(NOT_CHOSEN, None)], value=None, description=label,
                                               style={"description_width": "120px"}, layout=W.Layout(width="320px")),
                                    "seg-upload-column", f"seg-upload-column-{role}")
                      for role, label in MAPPED_ROLES.items()}
        self.read_button = classed(W.Button(description=READ_BUTTON, button_style="primary"), "seg-upload-read-columns")
        self.read_button.on_click(lambda _b: self.read())
        self.intro = W.HTML()
        self.widget = classed(W.VBox([self.intro, W.HBox(list(self.lists.values()),
                                                         layout=W.Layout(flex_flow="row wrap", grid_gap="4px 12px")),
                                      self.read_button], layout=W.Layout(display="none")), "seg-upload-mapping")

    @property
    def offered(self) -> bool:
        return self.widget.layout.display != "none"

    def offer(self, name: str, content: bytes, columns: list[str]) -> None:
        """Show the lists over ``columns`` of the upload ``name`` (kept until read or cleared)."""
        self.name, self.content = name, bytes(content)
        guess = guessed_mapping(columns)
        options = [(NOT_CHOSEN, None)] + [(str(c), str(c)) for c in dict.fromkeys(columns)]
        for role, widget in self.lists.items():
            widget.options = options
            widget.value = guess.get(role)
        self.intro.value = ("<p class='seg-meta'>Which column of this file holds each of these? Choose at least the "
                            "customer, the date and the unit price (or the line amount), then press "
                            f"\u201c{READ_BUTTON}\u201d.</p>")
        self.widget.layout.display = "flex"

    def choose(self, **mapping: str | None) -> None:
        """Set lists by role (``choose(customer="Kunde", date="Datum")``), as a visitor does."""
        for role, column in mapping.items():
            self.lists[role].value = column

    def mapping(self) -> dict[str, str]:
        """Role -> column of the lists with a column chosen."""
        return {role: widget.value for role, widget in self.lists.items() if widget.value is not None}

    def read(self) -> None:
        """Read the kept upload again with the columns chosen."""
        if self.name is not None:
            self.on_read(self.name, self.content, self.mapping())

    def clear(self) -> None:
        """Hide the lists and drop the kept file."""
        self.name, self.content = None, b""
        self.widget.layout.display = "none"
