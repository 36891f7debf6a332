"""Ready mappings for the public data sets users bring (see FORMATS.md), plus the generic column aliases."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InputError

# Without a preset, a column with one of these names (any case) is used; the canonical name comes first.
GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    "event_time": ("event_time", "timestamp", "time", "ts", "datetime", "date"),
    "event_type": ("event_type", "event", "event_name", "type", "action"),
    "user_id": ("user_id", "user", "visitor_id", "visitorid", "customer_id", "client_id"),
    "session_id": ("session_id", "session", "user_session"),
    "product_id": ("product_id", "item_id", "itemid", "sku"),
    "category": ("category", "category_code", "category_id"),
    "order_id": ("order_id", "transaction_id", "transactionid"),
    "price": ("price", "unit_price"),
    "quantity": ("quantity", "qty"),
}


@dataclass(frozen=True)
class Preset:
    """How one known data set maps onto the canonical schema.

    columns: canonical -> source candidates; every candidate present is coalesced in order (so
    rees46's category_code falls back to category_id, and Online Retail I and II names both work).
    """

    name: str
    description: str
    columns: dict[str, tuple[str, ...]]
    events: dict[str, str] = field(default_factory=dict)
    dimensions: dict[str, str] = field(default_factory=dict)
    time_format: str = ""
    time_zone: str = ""
    extra_time_formats: tuple[str, ...] = ()
    header: tuple[str, ...] = ()  # column names for files that come without a header row
    guess_header: bool = False  # a header-less file's columns are named from their values (readers.py)
    constant_event: str = ""  # event name for files with no event column (one purchase per row)
    order_prefix_events: dict[str, str] = field(default_factory=dict)  # order id prefix -> event name
    price_is_total: bool = False  # the amount column is the row total: price = amount / quantity
    default_quantity: int | None = None
    plausible_start: str = ""  # earliest plausible date when config keeps the default (old purchase logs)


PRESETS: dict[str, Preset] = {
    "rees46": Preset(
        name="rees46",
        description="REES46 multi-category store (event_time 'YYYY-MM-DD HH:MM:SS UTC', user_session)",
        columns={
            "event_time": ("event_time",),
            "event_type": ("event_type",),
            "product_id": ("product_id",),
            "category": ("category_code", "category_id"),
            "price": ("price",),
            "user_id": ("user_id",),
            "session_id": ("user_session",),
        },
        events={
            "view": "view",
            "cart": "cart",
            "remove_from_cart": "remove_from_cart",
            "purchase": "purchase",
        },
    ),
    "retailrocket": Preset(
        name="retailrocket",
        description="RetailRocket events.csv (epoch milliseconds, view/addtocart/transaction, no session)",
        columns={
            "event_time": ("timestamp",),
            "event_type": ("event",),
            "user_id": ("visitorid",),
            "product_id": ("itemid",),
            "order_id": ("transactionid",),
        },
        events={"view": "view", "addtocart": "cart", "transaction": "purchase"},
        time_format="epoch_ms",
    ),
    "online_retail": Preset(
        name="online_retail",
        description="UCI Online Retail I/II (invoices; C = cancellation, A = adjustment; UK local time)",
        columns={
            "order_id": ("Invoice", "InvoiceNo"),
            "product_id": ("StockCode",),
            "quantity": ("Quantity",),
            "event_time": ("InvoiceDate",),
            "price": ("Price", "UnitPrice"),
            "user_id": ("Customer ID", "CustomerID"),
        },
        events={"purchase": "purchase", "cancellation": "other", "adjustment": "other"},
        dimensions={"country": "Country"},
        time_zone="Europe/London",
        extra_time_formats=("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"),
        order_prefix_events={"C": "cancellation", "A": "adjustment"},
        constant_event="purchase",
    ),
    "taobao": Preset(
        name="taobao",
        description="Taobao UserBehavior (no header: user, item, category, pv/buy/cart/fav, epoch seconds)",
        columns={
            "user_id": ("user_id",),
            "product_id": ("item_id",),
            "category": ("category_id",),
            "event_type": ("behavior_type",),
            "event_time": ("timestamp",),
        },
        events={"pv": "view", "cart": "cart", "buy": "purchase", "fav": "other"},
        time_format="epoch_s",
        header=("user_id", "item_id", "category_id", "behavior_type", "timestamp"),
    ),
    "transactions": Preset(
        name="transactions",
        description="Generic purchase log: customer id, date (19970101 or ISO), amount, optional quantity",
        columns={
            "user_id": ("customer_id", "customer id", "customerid", "customer", "user_id", "cust_id", "id"),
            "event_time": (
                "date",
                "order_date",
                "transaction_date",
                "purchase_date",
                "event_time",
                "timestamp",
            ),
            "price": ("amount", "total", "value", "revenue", "sales", "price", "dollar_value"),
            "quantity": ("quantity", "qty", "units", "number", "number_of_cds"),  # CDNOW: number_of_cds
            "order_id": ("order_id", "transaction_id", "invoice"),
        },
        events={"purchase": "purchase"},
        constant_event="purchase",
        price_is_total=True,
        default_quantity=1,
        plausible_start="1990-01-01",  # CDNOW-style logs start in 1997
        guess_header=True,  # CDNOW's sample and many exports come without a header row
    ),
}


def get_preset(name: str) -> Preset | None:
    """The named preset, None for "", or an InputError listing the presets."""
    if not name:
        return None
    preset = PRESETS.get(name.strip().lower())
    if preset is None:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)} (or none)")
    return preset
