"""The TUI's order-risk read model: the riskiest recent orders with why, and the flagged share per monitor window.

No textual import: the screen calls `load_order_risk(ws)` on a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.workspace import Workspace

RECENT_DAYS = 7
TOP_ORDERS = 12
WHY_FEATURES = 2


@dataclass(frozen=True)
class RiskyOrder:
    order_id: str
    user_id: str | None
    order_time: Any
    value: float
    score: float
    flagged: bool
    why: str  # the features furthest from the reference, in standard deviations


@dataclass(frozen=True)
class ShareRow:
    window_end: str
    value: float | None
    upper: float | None
    status: str


@dataclass(frozen=True)
class OrderRiskView:
    model: str | None
    version: int | None
    threshold: float | None
    review_rate: float | None
    orders: tuple[RiskyOrder, ...]
    shares: tuple[ShareRow, ...]
    note: str  # why the view is empty, or where the orders came from


def _why(row: dict[str, Any], stats: dict[str, tuple[float, float]]) -> str:
    distances = []
    for name, (mean, std) in stats.items():
        value = row.get(name)
        if value is None:
            continue
        distances.append(((float(value) - mean) / (std if std > 0 else 1.0), name))
    distances.sort(key=lambda item: -abs(item[0]))
    return ", ".join(f"{name} {z:+.1f}σ" for z, name in distances[:WHY_FEATURES])


def load_order_risk(ws: Workspace, name: str = "order_risk") -> OrderRiskView:
    """The newest RECENT_DAYS of data/features/orders.parquet scored by the champion, riskiest first."""
    from engine.registry import Registry

    registry = Registry(ws)
    if name not in registry.names() or registry.champion(name) is None:
        return OrderRiskView(
            None, None, None, None, (), (), "no order-risk champion: run `shopctl train order_risk`"
        )
    version = registry.get(name)
    shares = _shares(ws, name)
    path = ws.features_dir / "orders.parquet"
    if not path.exists():
        return OrderRiskView(
            name,
            version.version,
            version.metadata.get("threshold"),
            None,
            (),
            shares,
            "no order table: run `shopctl features build`",
        )
    import polars as pl

    from engine.scoring import load_model

    orders = pl.read_parquet(path)
    if orders.height:
        newest = orders["order_time"].max()
        orders = orders.filter(pl.col("order_time") >= newest - timedelta(days=RECENT_DAYS))  # type: ignore[operator]
    model = load_model(ws, name)
    threshold = float(model.threshold or 0.0)
    scored = orders.with_columns(pl.Series("score", model.predict(orders) if orders.height else []))
    top = scored.sort("score", descending=True).head(TOP_ORDERS)
    features = version.profile.get("features", {})
    stats = {
        column: (float(entry.get("mean") or 0.0), float(entry.get("std") or 0.0))
        for column, entry in features.items()
        if entry.get("kind") == "numeric" and entry.get("mean") is not None
    }
    rows = tuple(
        RiskyOrder(
            order_id=str(row["order_id"]),
            user_id=row.get("user_id"),
            order_time=row.get("order_time"),
            value=float(row.get("value") or 0.0),
            score=float(row["score"]),
            flagged=float(row["score"]) > threshold,
            why=_why(row, stats),
        )
        for row in top.iter_rows(named=True)
    )
    flagged = int((scored["score"] > threshold).sum()) if scored.height else 0
    note = f"{scored.height} orders in {RECENT_DAYS} days, {flagged} FLAG"
    return OrderRiskView(
        name, version.version, threshold, version.metadata.get("review_rate"), rows, shares, note
    )


def _shares(ws: Workspace, name: str) -> tuple[ShareRow, ...]:
    from engine.store.db import Store
    from engine.store.metrics import query_metrics

    if not ws.store_path.exists():
        return ()
    store = Store(ws.store_path)
    try:
        rows = query_metrics(
            store, metric="flagged_share", scope="overall", model=name, check_name="order_risk"
        )
    finally:
        store.close()
    latest: dict[str, ShareRow] = {}
    for row in rows:
        latest[str(row["window_end"])] = ShareRow(
            str(row["window_end"]), row["value"], row["upper"], row["status"]
        )
    return tuple(latest[key] for key in sorted(latest))[-12:]
