"""A/B experiment analysis on the event store: the variant is a dimension column on events.

`analyze_experiment` reads the window's sessions (one polars pass), rolls them up to the unit of analysis,
checks the sample ratio, and compares every variant with the control (stats_tests, sequential, CUPED).
`plan_experiment` sizes a test. Both return the plain-JSON payload the CLI prints and the store keeps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import numpy as np
import polars as pl

from engine.analytics import stats_tests as st
from engine.analytics.sequential import DEFAULT_TUNING, half_width
from engine.errors import InputError
from engine.events import committed_files, scan_files
from engine.workspace import Workspace

METRICS = ("conversion_rate", "revenue_per_session", "revenue_per_user", "average_order_value")
UNITS = ("user", "session")
SRM_THRESHOLD = 0.001
# CUPED's covariate: what each user did in this many days before the experiment started.
PRE_PERIOD_DAYS = 28


@dataclass(frozen=True)
class ExperimentQuery:
    """What to analyse: the variant dimension, the control, the metric and unit, the window, the options."""

    dimension: str
    control: str | None = None
    metric: str = "conversion_rate"
    unit: str = "session"
    since: date | None = None
    until: date | None = None  # inclusive
    sequential: bool = False
    cuped: bool = False
    alpha: float = 0.05
    tuning: float = DEFAULT_TUNING

    def unit_of_analysis(self) -> str:
        """The unit metrics are computed over: revenue per user is always per user."""
        return "user" if self.metric == "revenue_per_user" else self.unit

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["since"] = self.since.isoformat() if self.since else None
        payload["until"] = self.until.isoformat() if self.until else None
        return payload


def parse_day(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value, or None; a bad value names the option."""
    if value is None or not str(value).strip():
        return None
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-03-01"
        ) from None


def _check(query: ExperimentQuery) -> None:
    if query.metric not in METRICS:
        raise InputError(f"--metric {query.metric!r} is unknown: pick one of {', '.join(METRICS)}")
    if query.unit not in UNITS:
        raise InputError(f"--unit {query.unit!r} is unknown: pick user or session")
    if not 0 < query.alpha < 0.5:
        raise InputError(f"--alpha {query.alpha}: pick a level between 0 and 0.5, e.g. 0.05")
    if query.since and query.until and query.until < query.since:
        raise InputError(f"--until {query.until} is before --since {query.since}: swap them")
    if query.cuped and (query.unit_of_analysis() != "user" or query.metric == "average_order_value"):
        raise InputError(
            f"--cuped adjusts per-user metrics with each user's pre-experiment behaviour: use --unit user "
            f"with conversion_rate or revenue_per_session, or --metric revenue_per_user (not {query.metric} "
            f"by {query.unit})"
        )


def _events(ws: Workspace, dimension: str) -> pl.LazyFrame:
    files = committed_files(ws)
    if not files:
        raise InputError(
            f"{ws.events_dir}: no events yet; run `shopctl ingest FILE` (or `shopctl demo`) first"
        )
    dimensions = list(dict.fromkeys([*ws.settings.schema.dimensions, dimension]))
    return scan_files(files, dimensions)


def _sessions(events: pl.LazyFrame, dimension: str) -> pl.LazyFrame:
    """One row per session: its unit key, variant, start, conversion, revenue and order count."""
    purchase = pl.col("event_type") == "purchase"
    line_value = pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1)
    return events.group_by("session_id").agg(
        pl.col("user_id").drop_nulls().first().alias("user_id"),
        pl.col(dimension).drop_nulls().first().alias("variant"),
        pl.col("event_time").min().alias("start"),
        purchase.any().cast(pl.Int64).alias("converted"),
        line_value.filter(purchase).sum().alias("revenue"),
        pl.col("order_id").filter(purchase).drop_nulls().n_unique().alias("orders"),
    )


def _window(query: ExperimentQuery) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(query.since, datetime.min.time(), tzinfo=UTC) if query.since else None
    end = (
        datetime.combine(query.until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        if query.until
        else None
    )
    return start, end


def _in_window(frame: pl.LazyFrame, start: datetime | None, end: datetime | None) -> pl.LazyFrame:
    if start is not None:
        frame = frame.filter(pl.col("event_time") >= start)
    if end is not None:
        frame = frame.filter(pl.col("event_time") < end)
    return frame


def load_sessions(ws: Workspace, query: ExperimentQuery) -> tuple[pl.DataFrame, pl.LazyFrame]:
    """The window's sessions that carry a variant, and the whole event scan (for the pre-period)."""
    events = _events(ws, query.dimension)
    start, end = _window(query)
    windowed = _in_window(events, start, end)
    counts = windowed.select(
        pl.len().alias("events"), pl.col(query.dimension).is_not_null().sum().alias("with_variant")
    ).collect()
    if counts["events"].item() == 0:
        window = f"{query.since or 'the first event'} .. {query.until or 'the last event'}"
        raise InputError(
            f"no events between {window}: widen --since/--until (`shopctl data summary` shows the span)"
        )
    if counts["with_variant"].item() == 0:
        configured = query.dimension in ws.settings.schema.dimensions
        how = (
            "the column is configured but no ingested file filled it"
            if configured
            else f"it is not a configured dimension ({', '.join(ws.settings.schema.dimensions) or 'none'})"
        )
        raise InputError(
            f"dimension {query.dimension!r} has no values in the window: {how}; ingest the variant column with "
            f"`shopctl ingest FILE --dimension {query.dimension}=SOURCE_COLUMN` or add it to config.toml "
            "[schema] dimensions"
        )
    sessions = (
        _sessions(windowed, query.dimension)
        .filter(pl.col("variant").is_not_null())
        .with_columns(
            pl.coalesce(pl.col("user_id"), pl.lit("session:") + pl.col("session_id")).alias("unit_key")
        )
        .collect()
    )
    return sessions, events


def _users(sessions: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One row per user (anonymous sessions are their own user), assigned to the variant of their first session;
    also how many users showed up in more than one variant."""
    users = (
        sessions.sort("start")
        .group_by("unit_key", maintain_order=True)
        .agg(
            pl.col("variant").first(),
            pl.col("variant").n_unique().alias("variants_seen"),
            pl.col("start").min(),
            pl.len().alias("sessions"),
            pl.col("converted").sum(),
            pl.col("revenue").sum(),
            pl.col("orders").sum(),
        )
    )
    return users, int((users["variants_seen"] > 1).sum())


def _covariate(events: pl.LazyFrame, users: pl.DataFrame, metric: str, begin: datetime) -> pl.DataFrame:
    """Each user's pre-experiment value (converted sessions, or spend) over PRE_PERIOD_DAYS before `begin`."""
    pre = _in_window(events, begin - timedelta(days=PRE_PERIOD_DAYS), begin).filter(
        pl.col("user_id").is_not_null()
    )
    purchase = pl.col("event_type") == "purchase"
    if metric == "conversion_rate":
        value = pre.group_by("user_id").agg(
            pl.col("session_id").filter(purchase).n_unique().alias("covariate")
        )
    else:
        spend = (pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1)).filter(purchase).sum()
        value = pre.group_by("user_id").agg(spend.alias("covariate"))
    joined = users.join(value.collect().rename({"user_id": "unit_key"}), on="unit_key", how="left")
    return joined.with_columns(pl.col("covariate").fill_null(0).cast(pl.Float64))


def _user_values(users: pl.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Numerator and denominator per user (denominator None for a plain per-user mean)."""
    if metric == "conversion_rate":
        return users["converted"].to_numpy().astype(float), users["sessions"].to_numpy().astype(float)
    if metric == "revenue_per_session":
        return users["revenue"].to_numpy().astype(float), users["sessions"].to_numpy().astype(float)
    return users["revenue"].to_numpy().astype(float), None


def _estimates_user(
    users: pl.DataFrame, variants: list[str], metric: str, cuped: bool
) -> tuple[dict[str, st.Estimate], dict[str, Any] | None]:
    """Per-variant estimates with the user as the unit: ratio metrics by the delta method, optionally CUPED."""
    linear: dict[str, np.ndarray] = {}
    estimates: dict[str, st.Estimate] = {}
    for variant in variants:
        part = users.filter(pl.col("variant") == variant)
        numerator, denominator = _user_values(part, metric)
        if denominator is None:
            estimates[variant] = st.mean_estimate(numerator)
            linear[variant] = numerator - numerator.mean()
        else:
            estimates[variant], linear[variant] = st.ratio_estimate(numerator, denominator)
    if not cuped:
        return estimates, None
    covariates = {v: users.filter(pl.col("variant") == v)["covariate"].to_numpy() for v in variants}
    all_linear = np.concatenate([linear[v] for v in variants])
    all_covariate = np.concatenate([covariates[v] for v in variants])
    covariate_variance = float(all_covariate.var(ddof=1))
    if not covariate_variance > 0:
        raise InputError(
            f"--cuped: no user has any pre-experiment activity in the {PRE_PERIOD_DAYS} days before the window, "
            "so there is nothing to adjust with; drop --cuped or start the window later"
        )
    theta = float(np.cov(all_linear, all_covariate, ddof=1)[0, 1] / covariate_variance)
    grand_mean = float(all_covariate.mean())
    adjusted: dict[str, st.Estimate] = {}
    reductions = {}
    for variant in variants:
        residual = linear[variant] - theta * (covariates[variant] - covariates[variant].mean())
        before = estimates[variant]
        mean = before.mean - theta * (float(covariates[variant].mean()) - grand_mean)
        variance = float(residual.var(ddof=1)) / before.units
        adjusted[variant] = st.Estimate(mean, variance, before.units)
        reductions[variant] = (
            1 - variance / before.variance_of_mean if before.variance_of_mean > 0 else math.nan
        )
    pooled_reduction = 1 - float(
        np.var(all_linear - theta * (all_covariate - grand_mean), ddof=1) / np.var(all_linear, ddof=1)
    )
    detail = {
        "covariate": "pre-period converted sessions" if metric == "conversion_rate" else "pre-period spend",
        "pre_period_days": PRE_PERIOD_DAYS,
        "theta": theta,
        "variance_reduction": pooled_reduction,
        "variance_reduction_by_variant": reductions,
        "users_with_pre_period_activity": int((all_covariate > 0).sum()),
        "unadjusted": {v: estimates[v].mean for v in variants},
    }
    return adjusted, detail


def analyze_experiment(ws: Workspace, query: ExperimentQuery) -> dict[str, Any]:
    """Compare every variant with the control; the payload `shopctl experiment analyze --json` prints."""
    _check(query)
    sessions, events = load_sessions(ws, query)
    variants = sorted(sessions["variant"].unique().to_list())
    if len(variants) < 2:
        raise InputError(
            f"dimension {query.dimension!r} has one variant only ({variants[0]!r}) in the window: an experiment "
            "needs a control and at least one treatment; check the window or the dimension"
        )
    control = query.control if query.control is not None else variants[0]
    if control not in variants:
        raise InputError(
            f"--control {control!r} is not a variant of {query.dimension!r}: pick one of {', '.join(variants)}"
        )
    treatments = [v for v in variants if v != control]
    unit = query.unit_of_analysis()
    users, mixed_users = _users(sessions)
    begin = cast(datetime, sessions["start"].min())
    cuped_detail = None

    summary: dict[str, dict[str, Any]] = {}
    for variant in variants:
        part = sessions.filter(pl.col("variant") == variant)
        summary[variant] = {
            "variant": variant,
            "control": variant == control,
            "sessions": part.height,
            "users": int(users.filter(pl.col("variant") == variant).height),
            "conversions": int(part["converted"].sum()),
            "orders": int(part["orders"].sum()),
            "revenue": float(part["revenue"].sum()),
        }

    if query.metric == "average_order_value" or unit == "session":
        estimates = {}
        for variant in variants:
            part = sessions.filter(pl.col("variant") == variant)
            if query.metric == "conversion_rate":
                estimates[variant] = st.proportion_estimate(int(part["converted"].sum()), part.height)
            elif query.metric == "revenue_per_session":
                estimates[variant] = st.mean_estimate(part["revenue"].to_numpy().astype(float))
            else:
                orders = part.filter(pl.col("orders") > 0)
                values = (orders["revenue"] / orders["orders"]).to_numpy().astype(float)
                estimates[variant] = st.mean_estimate(np.repeat(values, orders["orders"].to_numpy()))
    else:
        frame = _covariate(events, users, query.metric, begin) if query.cuped else users
        estimates, cuped_detail = _estimates_user(frame, variants, query.metric, query.cuped)

    srm_counts = [summary[v]["users" if unit == "user" else "sessions"] for v in variants]
    srm_p = st.srm_p_value(srm_counts)
    srm = {
        "unit": "users" if unit == "user" else "sessions",
        "counts": dict(zip(variants, srm_counts, strict=True)),
        "expected_shares": {v: 1 / len(variants) for v in variants},
        "p_value": srm_p,
        "threshold": SRM_THRESHOLD,
        "mismatch": srm_p < SRM_THRESHOLD,
    }

    comparisons = []
    for variant in treatments:
        for name in (control, variant):
            if estimates[name].units < 2 or not math.isfinite(estimates[name].mean):
                raise InputError(
                    f"variant {name!r} has {estimates[name].units} unit(s) for {query.metric} in the window: "
                    "too few to compare; widen --since/--until"
                )
        comparisons.append(
            _compare(query, unit, estimates[control], estimates[variant], summary, control, variant)
        )
    for name, estimate in estimates.items():
        summary[name]["units"] = estimate.units
        summary[name]["value"] = estimate.mean
        summary[name]["standard_error"] = (
            math.sqrt(estimate.variance_of_mean) if estimate.variance_of_mean >= 0 else None
        )

    verdict, trustworthy = _verdict(query, srm, comparisons, control)
    return {
        "experiment": {
            **query.to_dict(),
            "control": control,
            "unit": unit,
            "first_session": _iso(begin),
            "last_session": _iso(sessions["start"].max()),
            "users_in_several_variants": mixed_users,
        },
        "variants": [summary[v] for v in variants],
        "comparisons": comparisons,
        "srm": srm,
        "cuped": cuped_detail,
        "verdict": verdict,
        "trustworthy": trustworthy,
    }


def _compare(
    query: ExperimentQuery,
    unit: str,
    control: st.Estimate,
    treatment: st.Estimate,
    summary: dict[str, dict[str, Any]],
    control_name: str,
    variant: str,
) -> dict[str, Any]:
    plain_mean = query.metric != "conversion_rate" and not (
        unit == "user" and query.metric != "revenue_per_user"
    )
    if query.metric == "conversion_rate" and unit == "session":
        c, t = summary[control_name], summary[variant]
        comparison = st.z_compare(
            control,
            treatment,
            query.alpha,
            pooled_p_value=(c["conversions"], c["sessions"], t["conversions"], t["sessions"]),
        )
    elif plain_mean and not query.cuped:
        comparison = st.welch_compare(control, treatment, query.alpha)
    else:
        comparison = st.z_compare(control, treatment, query.alpha)
    if query.metric == "conversion_rate":
        control_counts = (
            st.effective_counts(control) if unit == "user" else (control.mean * control.units, control.units)
        )
        treatment_counts = (
            st.effective_counts(treatment)
            if unit == "user"
            else (treatment.mean * treatment.units, treatment.units)
        )
        chance, loss = st.beta_binomial(*control_counts, *treatment_counts)
        bayes = "beta-binomial (seeded Monte Carlo)"
    else:
        chance, loss = st.normal_bayes(comparison.absolute, comparison.standard_error)
        bayes = "normal posterior (closed form)"
    row: dict[str, Any] = {
        "variant": variant,
        "control": control_name,
        **comparison.to_dict(),
        "chance_to_beat_control": chance,
        "expected_loss": loss,
        "bayesian_model": bayes,
        "significant": comparison.p_value < query.alpha,
    }
    if query.sequential:
        units = control.units + treatment.units
        width = float(half_width(comparison.standard_error, units, query.alpha, query.tuning))
        relative_width = float(
            half_width(comparison.relative_standard_error, units, query.alpha, query.tuning)
        )
        row["sequential"] = {
            "method": "normal-mixture confidence sequence (Howard et al. 2021; GrowthBook)",
            "tuning_units": query.tuning,
            "absolute_lower": comparison.absolute - width,
            "absolute_upper": comparison.absolute + width,
            "relative_lower": comparison.relative - relative_width,
            "relative_upper": comparison.relative + relative_width,
        }
        # Significant once both always-valid intervals leave zero (the relative one, which also carries the
        # control's uncertainty, is the wider of the two and the one the verdict shows).
        sequence = row["sequential"]
        row["significant"] = not (sequence["absolute_lower"] <= 0 <= sequence["absolute_upper"]) and not (
            sequence["relative_lower"] <= 0 <= sequence["relative_upper"]
        )
    return row


def _verdict(
    query: ExperimentQuery, srm: dict[str, Any], comparisons: list[dict[str, Any]], control: str
) -> tuple[str, bool]:
    if srm["mismatch"]:
        counts = ", ".join(f"{name} {count:,}" for name, count in srm["counts"].items())
        return (
            f"SAMPLE RATIO MISMATCH (p = {srm['p_value']:.2g} < {SRM_THRESHOLD}; {srm['unit']}: {counts}): the "
            "result cannot be trusted; find the assignment or tracking bug before reading any lift",
            False,
        )
    lows = "sequential" if query.sequential else None
    parts = []
    for row in comparisons:
        low, high = (
            (row[lows]["relative_lower"], row[lows]["relative_upper"])
            if lows
            else (row["relative_lower"], row["relative_upper"])
        )
        interval = f"{row['relative_lift']:+.1%} [{low:+.1%}, {high:+.1%}]"
        if row["significant"]:
            word = "beats" if row["absolute_lift"] > 0 else "is worse than"
            parts.append(f"{row['variant']} {word} {control}: {interval}")
        else:
            parts.append(f"{row['variant']} vs {control}: no significant difference yet, {interval}")
    return "; ".join(parts), True


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def daily_sessions(ws: Workspace, days: int = 28) -> float | None:
    """Sessions per day over the last `days` days of events, or None when the workspace has no events."""
    files = committed_files(ws)
    if not files:
        return None
    events = scan_files(files, list(ws.settings.schema.dimensions))
    last = events.select(pl.col("event_time").max()).collect().item()
    if last is None:
        return None
    first = max(events.select(pl.col("event_time").min()).collect().item(), last - timedelta(days=days))
    span_days = max((last - first).total_seconds() / 86_400, 1.0)
    sessions = (
        events.filter(pl.col("event_time") >= first).select(pl.col("session_id").n_unique()).collect().item()
    )
    return float(sessions) / span_days


def plan_experiment(
    baseline: float,
    mde: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    variants: int = 2,
    sessions_per_day: float | None = None,
) -> dict[str, Any]:
    """Sessions per variant to detect a relative lift `mde` on a `baseline` conversion rate, and the days that
    takes at `sessions_per_day` split over `variants`."""
    if not 0 < baseline < 1:
        raise InputError(f"--baseline {baseline}: a conversion rate between 0 and 1, e.g. 0.03")
    if mde == 0 or not -1 < mde or baseline * (1 + mde) >= 1:
        raise InputError(
            f"--mde {mde}: a relative lift such as 0.1 (+10%), not 0, with baseline x (1 + mde) < 1"
        )
    if not 0 < power < 1:
        raise InputError(f"--power {power}: between 0 and 1, e.g. 0.8")
    if not 0 < alpha < 0.5:
        raise InputError(f"--alpha {alpha}: between 0 and 0.5, e.g. 0.05")
    if variants < 2:
        raise InputError(f"--variants {variants}: an experiment has at least 2 variants (control included)")
    per_variant = st.sessions_per_variant(baseline, mde, power=power, alpha=alpha)
    payload: dict[str, Any] = {
        "baseline": baseline,
        "mde": mde,
        "treated_rate": baseline * (1 + mde),
        "power": power,
        "alpha": alpha,
        "variants": variants,
        "sessions_per_variant": per_variant,
        "sessions_total": per_variant * variants,
        "method": "two-sided test, Cohen's h (statsmodels NormalIndPower + proportion_effectsize)",
        "sessions_per_day": sessions_per_day,
        "days": math.ceil(per_variant * variants / sessions_per_day) if sessions_per_day else None,
    }
    return payload
