"""The order-risk check of `monitor run`: the share of the window's orders scored above the champion's threshold.

For each order-risk champion (metadata kind "order_risk"), the orders of the current window and of its baseline
windows are built from the event store (engine.features.orders, with the history before them) and scored. The
row `check_name = order_risk`, metric `flagged_share`, compares the window's share with the baselines' pooled
share (or the review rate the threshold was set for, when there is no baseline): status warning above
expected + 3 binomial standard errors, critical above twice that band's top. Per segment of each dimension the
same test runs with scope `segment:<dimension>=<value>` (segments with fewer than MIN_SEGMENT_ORDERS orders are
reported, status ok). The default alert rule `order-risk` alerts on the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from engine.monitoring.windows import Window
from engine.workspace import Workspace

ORDER_RISK_KIND = "order_risk"
CHECK = "order_risk"
METRIC = "flagged_share"
MIN_SEGMENT_ORDERS = 30
SIGMAS = 3.0


def order_risk_champions(ws: Workspace) -> list[str]:
    """Names of the champions trained by `shopctl train order_risk`."""
    from engine.registry import Registry

    registry = Registry(ws)
    names = []
    for name in registry.names():
        if registry.champion(name) is None:
            continue
        if registry.get(name).metadata.get("kind") == ORDER_RISK_KIND:
            names.append(name)
    return names


def _band(expected: float, orders: int) -> tuple[float, float]:
    spread = SIGMAS * (max(expected * (1.0 - expected), 0.0) / max(orders, 1)) ** 0.5
    return max(0.0, expected - spread), min(1.0, expected + spread)


def _row(name: str, scope: str, flagged: int, orders: int, expected: float, detail: dict[str, Any]) -> dict:
    share = flagged / orders if orders else None
    lower, upper = _band(expected, orders)
    status = "ok"
    if share is None:
        status = "skipped"
    elif scope == "overall" or orders >= MIN_SEGMENT_ORDERS:
        if share > min(1.0, 2 * upper):
            status = "critical"
        elif share > upper:
            status = "warning"
    return {
        "check_name": CHECK,
        "metric": METRIC,
        "scope": scope,
        "model": name,
        "value": share,
        "kind": "realized",
        "lower": lower,
        "upper": upper,
        "threshold": detail.get("threshold"),
        "status": status,
        "detail": detail | {"orders": orders, "flagged": flagged, "expected": expected},
    }


def _share(frame: pl.DataFrame) -> float:
    return float(frame["_flagged"].sum()) / frame.height if frame.height else 0.0


def order_risk_rows(
    ws: Workspace,
    events: pl.LazyFrame,
    current: Window,
    baselines: Sequence[Window],
    dimensions: Sequence[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(metric rows, model infos) of every order-risk champion on the window; nothing when there is none."""
    names = order_risk_champions(ws)
    if not names:
        return [], []
    from engine.features.orders import order_features
    from engine.scoring import load_model

    earliest = min(window.start for window in (current, *baselines))
    orders = (
        order_features(events.filter(pl.col("event_time") < current.data_end), dimensions)
        .filter(pl.col("order_time") >= earliest)
        .collect()
    )
    rows: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    for name in names:
        model = load_model(ws, name)
        threshold = float(model.threshold or 0.0)
        review_rate = float(model.metadata.get("review_rate") or 0.01)
        flagged = model.predict(orders) > threshold if orders.height else np.zeros(0, dtype=bool)
        scored = orders.with_columns(pl.Series("_flagged", flagged))

        def window_of(frame: pl.DataFrame, window: Window) -> pl.DataFrame:
            return frame.filter((pl.col("order_time") >= window.start) & (pl.col("order_time") < window.end))

        now = window_of(scored, current)
        past = pl.concat([window_of(scored, window) for window in baselines]) if baselines else scored.head(0)
        expected = _share(past) if past.height else review_rate
        detail = {"threshold": threshold, "review_rate": review_rate, "baseline_orders": past.height}
        rows.append(_row(name, "overall", int(now["_flagged"].sum()), now.height, expected, detail))
        for dimension in dimensions:
            if dimension not in now.columns:
                continue
            for value, group in sorted(now.group_by(dimension), key=lambda item: str(item[0][0])):
                key = value[0]
                if key is None:
                    continue
                base = past.filter(pl.col(dimension) == key)
                segment_expected = _share(base) if base.height >= MIN_SEGMENT_ORDERS else expected
                rows.append(
                    _row(
                        name,
                        f"segment:{dimension}={key}",
                        int(group["_flagged"].sum()),
                        group.height,
                        segment_expected,
                        detail | {"baseline_orders": base.height},
                    )
                )
        infos.append({"name": name, "version": model.version, "rows": now.height, "check": CHECK})
    return rows, infos
