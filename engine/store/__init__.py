"""The SQLite store in a workspace's state/: runs, metrics, alerts, deliveries and job runs."""

from __future__ import annotations

from engine.store.db import Store, open_store

__all__ = ["Store", "open_store"]
