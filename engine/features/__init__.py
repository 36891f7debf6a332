"""Point-in-time feature tables built from the event store: sessions (conversion) and users (repurchase, spend).

Everything here loads on first use (engine.infra.lazy): polars is not imported with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.infra.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.features.build import build_features
    from engine.features.orders import order_features, order_spec
    from engine.features.sessions import session_features, session_spec
    from engine.features.users import user_features, user_spec

__all__ = [
    "build_features",
    "order_features",
    "order_spec",
    "session_features",
    "session_spec",
    "user_features",
    "user_spec",
]
__getattr__ = lazy_attributes(
    __name__,
    {
        "build_features": "engine.features.build",
        "order_features": "engine.features.orders",
        "order_spec": "engine.features.orders",
        "session_features": "engine.features.sessions",
        "session_spec": "engine.features.sessions",
        "user_features": "engine.features.users",
        "user_spec": "engine.features.users",
    },
)
