"""Business KPIs straight from events: conversion, funnel, abandonment, order value, per segment, vs a baseline.

Each KPI of the current window is compared with the pooled same-weekday baseline windows, minus those that were
themselves flagged. Rates get an exact beta-binomial band (engine.monitoring.bands) that carries the window's own
noise, the baseline's uncertainty and the over-dispersion between baseline windows, so low volume widens the
band instead of silencing the check, and a shop whose days differ more than coin flips would does not get an
alert every morning. Means get Welch's t band.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from engine.analytics.stats import wilson_interval
from engine.config import MonitorConfig
from engine.monitoring import bands
from engine.monitoring.windows import Window

# Relative change below which a statistically clear difference is still not worth an alert.
MIN_RELATIVE_CHANGE = 0.05
# CUSUM on conversion z-scores: allowance k and decision threshold h, in standard deviations.
CUSUM_K = 0.5
CUSUM_H = 8.0
UNKNOWN = "unknown"

# Which direction of change is bad for each KPI ("both" for mix and volume).
# A check judges a current window's values against baseline windows' values at a z: rate_check or mean_check.
Check = Callable[..., dict[str, Any]]

BAD_DIRECTION = {
    "conversion_rate": "low",
    "cart_rate": "low",
    "checkout_rate": "low",
    "cart_abandonment": "high",
    "average_order_value": "low",
    "revenue_per_session": "low",
    "session_share": "both",
    "sessions": "both",
}


def session_frame(
    events: pl.LazyFrame,
    windows: Sequence[Window],
    segments: Sequence[str],
    funnel: Sequence[str],
    history: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """One row per session starting in one of the windows: window index, segment values, step flags, revenue.

    `history` (default: events) is where a visitor's first visit is looked up for new vs returning.
    """
    columns = set(events.collect_schema().names())
    starts = [window.start for window in windows]
    ends = [window.data_end for window in windows]
    lo, hi = min(starts), max(ends)
    steps = sorted({*funnel, "view", "cart", "checkout", "purchase"})
    dims = [name for name in segments if name in columns and name != "visitor_type"]
    is_purchase = pl.col("event_type") == "purchase"
    price = pl.col("price").fill_null(0.0) if "price" in columns else pl.lit(0.0)
    quantity = pl.col("quantity").fill_null(1).cast(pl.Float64) if "quantity" in columns else pl.lit(1.0)
    aggregations = [
        pl.col("event_time").min().alias("session_start"),
        pl.col("user_id").drop_nulls().first().alias("user_id"),
        pl.len().alias("n_events"),
        pl.when(is_purchase).then(price * quantity).otherwise(0.0).sum().alias("revenue"),
        *[(pl.col("event_type") == step).any().alias(f"has_{step}") for step in steps],
        *[pl.col(dim).drop_nulls().first().alias(dim) for dim in dims],
    ]
    if "order_id" in columns:
        aggregations.append(pl.col("order_id").filter(is_purchase).drop_nulls().n_unique().alias("n_orders"))
    else:
        aggregations.append(pl.lit(0, dtype=pl.UInt32).alias("n_orders"))
    sessions = (
        events.filter((pl.col("event_time") >= lo) & (pl.col("event_time") < hi))
        .group_by("session_id")
        .agg(aggregations)
    )
    window_index = pl.lit(None, dtype=pl.Int32)
    for index in reversed(range(len(windows))):
        inside = (pl.col("session_start") >= starts[index]) & (pl.col("session_start") < ends[index])
        window_index = pl.when(inside).then(pl.lit(index, dtype=pl.Int32)).otherwise(window_index)
    sessions = sessions.with_columns(window_index.alias("window")).filter(pl.col("window").is_not_null())
    if "visitor_type" in segments:
        first_seen = (
            (events if history is None else history)
            .filter(pl.col("event_time") < hi)
            .group_by("user_id")
            .agg(pl.col("event_time").min().alias("first_seen"))
            .filter(pl.col("user_id").is_not_null())
        )
        sessions = sessions.join(first_seen, on="user_id", how="left").with_columns(
            pl.when(pl.col("first_seen") < pl.col("session_start"))
            .then(pl.lit("returning"))
            .otherwise(pl.lit("new"))
            .alias("visitor_type")
        )
    sessions = sessions.with_columns(
        pl.max_horizontal(pl.col("n_orders").cast(pl.Int64), pl.col("has_purchase").cast(pl.Int64)).alias(
            "n_orders"
        ),
        *[pl.col(dim).cast(pl.String).fill_null(UNKNOWN) for dim in dims],
    )
    return sessions.collect()


def _count_aggregations(funnel: Sequence[str]) -> list[pl.Expr]:
    expressions = [
        pl.len().alias("sessions"),
        pl.col("n_events").sum().alias("events"),
        pl.col("has_purchase").sum().alias("purchase"),
        pl.col("has_cart").sum().alias("cart"),
        pl.col("has_checkout").sum().alias("checkout"),
        (pl.col("has_cart") & ~pl.col("has_purchase")).sum().alias("abandoned"),
        pl.col("revenue").sum().alias("revenue"),
        (pl.col("revenue") ** 2).sum().alias("revenue_sq"),
        pl.col("n_orders").sum().alias("orders"),
    ]
    for left, right in zip(funnel, funnel[1:], strict=False):
        expressions.append(pl.col(f"has_{left}").sum().alias(f"step_from:{left}->{right}"))
        expressions.append(
            (pl.col(f"has_{left}") & pl.col(f"has_{right}")).sum().alias(f"step_to:{left}->{right}")
        )
    return expressions


def segment_counts(sessions: pl.DataFrame, segments: Sequence[str], funnel: Sequence[str]) -> pl.DataFrame:
    """Counts per window and scope ("overall" and "segment:<dim>=<value>"), the raw material of every KPI."""
    aggregations = _count_aggregations(funnel)
    parts = [sessions.group_by("window").agg(aggregations).with_columns(pl.lit("overall").alias("scope"))]
    for dim in segments:
        if dim not in sessions.columns:
            continue
        part = sessions.group_by("window", dim).agg(aggregations)
        part = part.with_columns((pl.lit(f"segment:{dim}=") + pl.col(dim)).alias("scope")).drop(dim)
        parts.append(part)
    counts = pl.concat(parts, how="diagonal_relaxed")
    totals = counts.filter(pl.col("scope") == "overall").select("window", pl.col("sessions").alias("total"))
    return counts.join(totals, on="window", how="left")


def _rate_definitions(funnel: Sequence[str]) -> list[tuple[str, str, str]]:
    """(metric, numerator column, denominator column) for every binomial KPI."""
    rates = [
        ("conversion_rate", "purchase", "sessions"),
        ("cart_rate", "cart", "sessions"),
        ("checkout_rate", "checkout", "sessions"),
        ("cart_abandonment", "abandoned", "cart"),
    ]
    for left, right in zip(funnel, funnel[1:], strict=False):
        rates.append((f"funnel:{left}->{right}", f"step_to:{left}->{right}", f"step_from:{left}->{right}"))
    return rates


def _flag(value: float, lower: float, upper: float, baseline: float) -> str | None:
    if baseline > 0 and abs(value - baseline) / baseline < MIN_RELATIVE_CHANGE:
        return None
    if value < lower:
        return "low"
    if value > upper:
        return "high"
    return None


def _status(metric: str, anomaly: str | None) -> str:
    bad = BAD_DIRECTION.get(metric, "low")
    return "warning" if anomaly and bad in (anomaly, "both") else "ok"


def rate_check(
    metric: str,
    current: tuple[float, float],
    baselines: Sequence[tuple[float, float]],
    z: float,
) -> dict[str, Any]:
    """Compare a current rate (successes, trials) with pooled baseline windows; returns value, band and flags.

    The band is exact (beta-binomial tails at level Φ(−z) per side), so it widens as trials shrink. A result
    with a `reason` is uninformative: no trials, or so few that no count could leave the band in the KPI's bad
    direction (for mix metrics: in either direction).
    """
    successes, trials = current
    trials = int(trials)
    value = successes / trials if trials else None
    alpha = bands.tail_probability(z)
    detail: dict[str, Any] = {
        "numerator": successes,
        "denominator": trials,
        "baseline_windows": len(baselines),
        "test": "beta-binomial",
        "alpha": alpha,
    }
    result: dict[str, Any] = {"value": value, "lower": None, "upper": None, "detail": detail, "anomaly": None}
    if value is not None:
        detail["ci"] = list(wilson_interval(successes, trials, z))
    prior = bands.predictive(baselines)
    if prior is None:
        return result
    baseline = prior.rate
    detail.update(baseline=baseline, baseline_trials=prior.trials, overdispersion=prior.dispersion)
    if value is None:
        result["reason"] = "no trials in the window (the step's first event never happened)"
        return result
    band = bands.rate_band(int(successes), trials, prior.a, prior.b, alpha)
    lower, upper = band.lower_count / trials, band.upper_count / trials
    anomaly = _flag(value, lower, upper, baseline)
    detail.update(
        z=band.z,
        p_value=min(band.p_low, band.p_high),
        band_counts=[band.lower_count, band.upper_count],
        change=(value - baseline) / baseline if baseline else None,
        anomaly=anomaly,
    )
    bad = BAD_DIRECTION.get(metric, "low")
    sides = ("low", "high") if bad == "both" else (bad,)
    if not any(band.side_informative(side, trials) for side in sides):
        side = sides[0]
        if side == "low":
            reason = (
                f"too few trials to see a drop: with {trials} trials and a baseline rate of {baseline:.3g}, "
                f"even 0 has P = {band.p_zero:.3g} >= alpha {alpha:.2g}"
            )
        else:
            reason = (
                f"too few trials to see a rise: with {trials} trials and a baseline rate of {baseline:.3g}, "
                f"even {trials} of {trials} has P = {band.p_all:.3g} >= alpha {alpha:.2g}"
            )
        result["reason"] = reason
        detail["low_volume"] = True
    result.update(lower=lower, upper=upper, anomaly=anomaly)
    return result


def mean_check(
    current: tuple[float, float, float], baselines: Sequence[tuple[float, float, float]], z: float
) -> dict[str, Any]:
    """Compare a mean (total, sum of squares, count) with the pooled baseline by Welch's t at level Φ(−z)."""
    total, squares, count = current
    value = total / count if count else None
    base_total = sum(t for t, _, _ in baselines)
    base_squares = sum(q for _, q, _ in baselines)
    base_count = sum(c for _, _, c in baselines)
    detail: dict[str, Any] = {"count": count, "baseline_windows": len(baselines), "test": "welch-t"}
    result: dict[str, Any] = {"value": value, "lower": None, "upper": None, "detail": detail, "anomaly": None}
    if base_count <= 1:
        return result
    baseline = base_total / base_count
    detail["baseline"] = baseline
    if value is None or count <= 1:
        result["reason"] = (
            f"{int(count)} value(s) in the window: a mean needs 2 to have a spread to judge it by"
        )
        detail["low_volume"] = True
        return result
    base_variance = max(base_squares - base_count * baseline**2, 0.0) / (base_count - 1)
    variance = max(squares - count * value**2, 0.0) / (count - 1)
    band = bands.welch_band(
        value, variance, count, baseline, base_variance, base_count, bands.tail_probability(z)
    )
    anomaly = _flag(value, band.lower, band.upper, baseline)
    detail.update(
        baseline=baseline,
        z=band.t,
        degrees_of_freedom=band.degrees,
        anomaly=anomaly,
        change=(value - baseline) / baseline if baseline else None,
    )
    result.update(lower=band.lower, upper=band.upper, anomaly=anomaly)
    return result


def _row(
    metric: str, scope: str, result: dict[str, Any], status: str, reason: str | None = None
) -> dict[str, Any]:
    detail = dict(result["detail"])
    if reason:
        detail["reason"] = reason
    return {
        "check_name": "kpi",
        "metric": metric,
        "scope": scope,
        "kind": "realized",
        "value": result["value"],
        "lower": result["lower"],
        "upper": result["upper"],
        "threshold": None,
        "status": status,
        "detail": detail,
    }


def _kept(
    windows: Sequence[tuple[int, tuple[float, ...]]], flagged: set[int]
) -> tuple[list[tuple[float, ...]], list[int], bool]:
    """Baseline windows minus those that were themselves flagged; all of them when every populated one was.

    Returns (kept values, excluded window numbers, whether a lasting change became the new normal).
    """
    populated = [(k, item) for k, item in windows if item[-1]]
    excluded = [k for k, _ in populated if k in flagged]
    if populated and len(excluded) == len(populated):
        return [item for _, item in windows], [], True
    return [item for k, item in windows if k not in flagged], excluded, False


def baseline_outliers(
    metric: str, check: Check, windows: Sequence[tuple[int, tuple[float, ...]]], z: float
) -> list[int]:
    """Baseline windows that, judged against the other baseline windows at z − 1, fall on the metric's bad side.

    An incident's first days are flagged and stay out of later baselines; a day of it that was not (z of −3.5
    against a band of 4) would otherwise enter the baseline, widen it through over-dispersion and hide the
    rest of the incident. Leave-one-out needs three populated windows; at most all but two are dropped, most
    extreme first, and never a window too small to judge.
    """
    populated = [(k, item) for k, item in windows if item[-1]]
    if len(populated) < 3:
        return []
    bad = BAD_DIRECTION.get(metric, "low")
    scored = []
    for k, item in populated:
        others = [other for j, other in populated if j != k]
        result = check(item, others, z=max(z - 1.0, 2.0))
        anomaly = result["anomaly"]
        if anomaly and not result.get("reason") and bad in (anomaly, "both"):
            scored.append((-abs(result["detail"].get("z") or 0.0), k))
    return sorted(k for _, k in sorted(scored)[: len(populated) - 2])


def kpi_metrics(
    counts: pl.DataFrame,
    config: MonitorConfig,
    baseline_count: int,
    flagged: Mapping[tuple[str, str], set[int]] | None = None,
) -> list[dict[str, Any]]:
    """Every KPI row for the current window (index 0) against baseline windows 1..baseline_count.

    `flagged` maps (metric, scope) to the baseline windows (1 = a week back) whose own row for it was flagged
    anomalous when they were judged: those stay out of the baseline, so an incident keeps firing until it ends
    (unless every baseline window was flagged, when the change has lasted the whole baseline: the new normal).
    """
    z = config.anomaly_z
    funnel = list(config.funnel)
    flagged = flagged or {}
    rows: list[dict[str, Any]] = []
    by_scope: dict[str, dict[int, dict[str, Any]]] = {}
    for record in counts.iter_rows(named=True):
        by_scope.setdefault(record["scope"], {})[record["window"]] = record
    for scope in sorted(by_scope, key=lambda s: (s != "overall", s)):
        windows = by_scope[scope]
        current = windows.get(0)
        if current is None:
            continue
        base = [(k, windows[k]) for k in range(1, baseline_count + 1) if k in windows]
        no_baseline = None if base else "no baseline yet (no data in the same weekday of earlier weeks)"

        def judge(
            metric: str,
            check: Check,
            pick: Any,
            scope: str = scope,
            base: list = base,
            current: dict = current,
            no_baseline: str | None = no_baseline,
        ) -> None:
            picked = [(k, pick(record)) for k, record in base]
            known = flagged.get((metric, scope), set())
            kept, excluded, renewed = _kept(picked, known)
            outliers = (
                []
                if renewed
                else baseline_outliers(metric, check, [(k, item) for k, item in picked if k not in known], z)
            )
            if outliers:
                kept = [item for k, item in picked if k not in known and k not in outliers]
            result = check(pick(current), kept, z=z)
            if excluded:
                result["detail"]["excluded_windows"] = excluded
            if outliers:
                result["detail"]["outlier_windows"] = outliers
            if renewed:
                result["detail"]["baseline_note"] = (
                    "every baseline window was itself flagged: the change has lasted the whole baseline and is "
                    "judged as the new normal"
                )
            reason = no_baseline or result.get("reason")
            status = "skipped" if reason else _status(metric, result["anomaly"])
            if reason:
                result["detail"]["anomaly"] = None
            rows.append(_row(metric, scope, result, status, reason))

        volume: dict[str, Any] = {
            "value": float(current["sessions"]),
            "lower": None,
            "upper": None,
            "anomaly": None,
            "detail": {"events": current["events"]},
        }
        if base:
            mean = sum(b["sessions"] for _, b in base) / len(base)
            volume["detail"]["baseline"] = mean
        rows.append(_row("sessions", scope, volume, "ok"))
        for metric, numerator, denominator in _rate_definitions(funnel):
            judge(
                metric,
                functools.partial(rate_check, metric),
                lambda r, n=numerator, d=denominator: (r.get(n) or 0, r.get(d) or 0),
            )
        judge(
            "average_order_value",
            mean_check,
            lambda r: (r["revenue"], r["revenue_sq"], r["orders"]),
        )
        judge(
            "revenue_per_session",
            mean_check,
            lambda r: (r["revenue"], r["revenue_sq"], r["sessions"]),
        )
        if scope != "overall":
            judge(
                "session_share",
                functools.partial(rate_check, "session_share"),
                lambda r: (r["sessions"], r["total"]),
            )
    return rows


def cusum_lower(z_scores: Sequence[float], k: float = CUSUM_K) -> float:
    """One-sided lower CUSUM of standardized values: grows on a run of small declines, resets when they stop."""
    statistic = 0.0
    for z in z_scores:
        statistic = max(0.0, statistic - z - k)
    return statistic


def predicted_conversion_rows(
    sessions: pl.DataFrame,
    scores: pl.DataFrame,
    segments: Sequence[str],
    model: str,
    z: float,
) -> list[dict[str, Any]]:
    """Mean predicted conversion vs actual conversion per scope; warns when the prediction leaves the Wilson band.

    The Wilson interval widens by itself as sessions shrink, so small segments are judged, not skipped.
    """
    current = sessions.filter(pl.col("window") == 0).join(scores, on="session_id", how="inner")
    if current.is_empty():
        return []
    rows = []
    groups: list[tuple[str, pl.DataFrame]] = [("overall", current)]
    for dim in segments:
        if dim in current.columns:
            for (value,), part in current.group_by(dim, maintain_order=True):
                groups.append((f"segment:{dim}={value}", part))
    for scope, part in groups:
        trials = part.height
        successes = int(part["has_purchase"].sum())
        predicted = float(part.select(pl.col("score").mean()).item())
        lower, upper = wilson_interval(successes, trials, z)
        status = "warning" if not lower <= predicted <= upper else "ok"
        rows.append(
            {
                "check_name": "kpi",
                "metric": "predicted_conversion",
                "scope": scope,
                "kind": "estimated",
                "value": predicted,
                "lower": lower,
                "upper": upper,
                "threshold": None,
                "status": status,
                "model": model,
                "detail": {
                    "actual": successes / trials,
                    "sessions": trials,
                    "anomaly": None if status != "warning" else ("high" if predicted > upper else "low"),
                },
            }
        )
    return rows
