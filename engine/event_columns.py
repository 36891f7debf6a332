"""The canonical event columns by name, in store order: the one list (engine.events gives them their types).

Plain Python so the CLI can name them (presets, --column help) without loading polars.
"""

from __future__ import annotations

EVENT_COLUMNS = (
    "event_time",
    "event_type",
    "event_name",
    "user_id",
    "session_id",
    "product_id",
    "category",
    "order_id",
    "price",
    "quantity",
)
# Derived at ingest from the source's event name, so no source column maps onto it.
DERIVED_COLUMNS = ("event_name",)
MAPPABLE_COLUMNS = tuple(name for name in EVENT_COLUMNS if name not in DERIVED_COLUMNS)
