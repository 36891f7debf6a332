"""Predicted customer lifetime value: BG/NBD for how many orders a customer will place and whether they are still
alive, Gamma-Gamma for what those orders are worth (models/btyd.py), over a horizon in days.

Inputs follow the BTYD convention (Fader, Hardie & Lee 2005; `lifetimes`' summary_data_from_transaction_data):
a customer's orders are counted per calendar day (UTC), so two orders on one day are one purchase occasion;
`frequency` is the repeat days (days with an order, minus one), `recency` the days from the first to the last
such day, `age` the days from the first to as-of, and `repeat_value` the mean value of the repeat days.
CLV is undiscounted: expected orders × expected order value over the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from engine.errors import InputError

CLV_COLUMNS = ("p_alive", "expected_orders", "expected_order_value", "clv")
DAY_SECONDS = 86_400.0


def btyd_inputs(order_rows: pl.LazyFrame | pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Per customer (sorted by user_id): frequency, recency, age (days) and repeat_value, from rows with
    user_id, order_time and order_value (engine.customers.rfm.orders)."""
    days = (
        order_rows.lazy()
        .filter(pl.col("order_time") < as_of)
        .group_by("user_id", pl.col("order_time").dt.truncate("1d").alias("day"))
        .agg(pl.col("order_value").sum().alias("value"))
        .sort("user_id", "day")
    )
    first = pl.col("day").min()
    summary = days.group_by("user_id").agg(
        (pl.len() - 1).cast(pl.Float64).alias("frequency"),
        ((pl.col("day").max() - first).dt.total_seconds() / DAY_SECONDS).alias("recency"),
        ((pl.lit(as_of) - first).dt.total_seconds() / DAY_SECONDS).alias("age"),
        pl.col("value").slice(1).mean().alias("repeat_value"),
    )
    return summary.with_columns(pl.col("repeat_value").fill_null(0.0)).sort("user_id").collect()


@dataclass(frozen=True)
class ClvModel:
    """A fitted BG/NBD + Gamma-Gamma pair; `gamma_gamma` is None when too few customers repeat with value,
    and expected order value then falls back to the mean order value of the calibration period."""

    bgnbd: object
    gamma_gamma: object | None
    mean_order_value: float

    def params(self) -> dict[str, dict[str, float] | None]:
        r, alpha, a, b = self.bgnbd.params_  # type: ignore[attr-defined]
        gg = None
        if self.gamma_gamma is not None:
            p, q, gamma = self.gamma_gamma.params_  # type: ignore[attr-defined]
            gg = {"p": round(p, 6), "q": round(q, 6), "gamma": round(gamma, 6)}
        bg = {"r": round(r, 6), "alpha": round(alpha, 6), "a": round(a, 6), "b": round(b, 6)}
        return {"bgnbd": bg, "gamma_gamma": gg}


def fit_clv(inputs: pl.DataFrame, mean_order_value: float) -> ClvModel:
    """Fit both models on the btyd_inputs table; an InputError when it has no customers to learn from."""
    from models.btyd import BetaGeoFitter, GammaGammaFitter

    if inputs.height == 0:
        raise InputError("lifetime value: no customers with an order before the as-of; nothing to fit")
    frequency = inputs["frequency"].to_numpy()
    bgnbd = BetaGeoFitter().fit(frequency, inputs["recency"], inputs["age"])
    repeaters = int(((frequency > 0) & (inputs["repeat_value"].to_numpy() > 0)).sum())
    gamma_gamma = None
    if repeaters >= 10:
        gamma_gamma = GammaGammaFitter().fit(frequency, inputs["repeat_value"])
        if gamma_gamma.params_[1] <= 1:  # q ≤ 1: the population mean order value is infinite; do not use it
            gamma_gamma = None
    return ClvModel(bgnbd, gamma_gamma, float(mean_order_value))


def predict_clv(model: ClvModel, inputs: pl.DataFrame, horizon_days: float) -> pl.DataFrame:
    """user_id, p_alive, expected_orders (in the horizon), expected_order_value and clv per customer."""
    frequency, recency, age = (inputs[name].to_numpy() for name in ("frequency", "recency", "age"))
    bgnbd = model.bgnbd
    p_alive = bgnbd.probability_alive(frequency, recency, age)  # type: ignore[attr-defined]
    expected = bgnbd.expected_orders(horizon_days, frequency, recency, age)  # type: ignore[attr-defined]
    if model.gamma_gamma is not None:
        value = model.gamma_gamma.expected_order_value(frequency, inputs["repeat_value"])  # type: ignore[attr-defined]
    else:
        value = np.full(inputs.height, model.mean_order_value)
    return pl.DataFrame(
        {
            "user_id": inputs["user_id"],
            "p_alive": p_alive,
            "expected_orders": expected,
            "expected_order_value": value,
            "clv": expected * value,
        }
    )


# Below this many customers the four BG/NBD parameters are not identified; the CLV columns stay null.
MIN_CUSTOMERS = 20


def clv_table(
    order_rows: pl.LazyFrame | pl.DataFrame, as_of: datetime, horizon_days: float
) -> tuple[pl.DataFrame, ClvModel | None]:
    """Fit on the orders before as_of and predict each customer's next horizon_days; (table, model). With fewer
    than MIN_CUSTOMERS customers, or a fit whose predictions are not finite, the columns are null and model None."""
    frame = order_rows.lazy().filter(pl.col("order_time") < as_of).collect()
    inputs = btyd_inputs(frame, as_of)
    if inputs.height < MIN_CUSTOMERS:
        return _null_table(inputs), None
    mean_value = float(frame["order_value"].mean() or 0.0)  # type: ignore[arg-type]
    # A degenerate log (every customer alike) can push the fit to a corner: no CLV rather than a failed build.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        try:
            model = fit_clv(inputs, mean_value)
            table = predict_clv(model, inputs, horizon_days)
        except (ValueError, FloatingPointError, ZeroDivisionError):
            return _null_table(inputs), None
    finite = table.select(pl.all_horizontal(pl.col(name).is_finite().all() for name in CLV_COLUMNS)).item()
    return (table, model) if finite else (_null_table(inputs), None)


def _null_table(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select("user_id").with_columns(
        pl.lit(None, dtype=pl.Float64).alias(name) for name in CLV_COLUMNS
    )


def spend_baseline(
    order_rows: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime,
    horizon_days: float,
    parts: dict[str, pl.DataFrame],
) -> dict[str, dict[str, float] | None]:
    """The BG/NBD + Gamma-Gamma baseline of `train spend`: fitted on every order before the cutoff, its CLV
    over the horizon judged per part (frames of user_id and future_spend, e.g. validation and test) by the
    regression metrics the candidates get; a part is None when the model could not be fitted."""
    from models.metrics import regression_metrics

    table, model = clv_table(order_rows, cutoff, horizon_days)
    scores: dict[str, dict[str, float] | None] = {}
    for name, rows in parts.items():
        if model is None or rows.height == 0:
            scores[name] = None
            continue
        joined = rows.select("user_id", "future_spend").join(table, on="user_id", how="left")
        predicted = joined["clv"].fill_null(0.0).to_numpy()
        targets = joined["future_spend"].to_numpy()
        scores[name] = regression_metrics(targets, predicted, float(np.mean(targets)))
    return scores
