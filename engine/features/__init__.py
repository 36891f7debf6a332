"""Point-in-time feature tables built from the event store: sessions (conversion) and users (repurchase, spend)."""

from __future__ import annotations

from engine.features.build import build_features
from engine.features.sessions import session_features, session_spec
from engine.features.users import user_features, user_spec

__all__ = ["build_features", "session_features", "session_spec", "user_features", "user_spec"]
