"""The shop simulator: deterministic, plausible, and each scenario changes what its ground truth says, when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from engine.errors import InputError
from engine.simulator import SCENARIOS, simulate

START = date(2026, 3, 2)  # a Monday
DAYS = 21
PER_DAY = 500

CANONICAL_SCHEMA = {
    "event_time": pl.Datetime("us", "UTC"),
    "event_type": pl.String,
    "event_name": pl.String,
    "user_id": pl.String,
    "session_id": pl.String,
    "product_id": pl.String,
    "category": pl.String,
    "order_id": pl.String,
    "price": pl.Float64,
    "quantity": pl.Int64,
    "channel": pl.String,
    "device": pl.String,
    "country": pl.String,
}


@pytest.fixture(scope="module")
def runs() -> dict[str, object]:
    return {
        name: simulate(DAYS, seed=11, scenario=name, start=START, sessions_per_day=PER_DAY)
        for name in SCENARIOS
    }


def _sessions(events: pl.DataFrame) -> pl.DataFrame:
    """One row per session with funnel flags and new/returning, computed independently of engine.features."""
    table = (
        events.group_by("session_id")
        .agg(
            pl.col("event_time").min().alias("start"),
            pl.col("user_id").first(),
            pl.col("device").first(),
            pl.col("channel").first(),
            (pl.col("event_type") == "cart").any().alias("carted"),
            (pl.col("event_type") == "checkout").any().alias("checked_out"),
            (pl.col("event_type") == "purchase").any().alias("purchased"),
        )
        .sort("start", "session_id")
    )
    rank = pl.int_range(pl.len()).over("user_id")
    returning = pl.col("user_id").is_not_null() & (rank > 0)
    return table.with_columns(
        pl.when(returning).then(pl.lit("returning")).otherwise(pl.lit("new")).alias("visitor")
    )


def _change_time(truth: dict) -> datetime:
    return datetime.fromisoformat(truth["change_time"].replace("Z", "+00:00"))


def test_same_seed_same_events_and_other_seed_differs() -> None:
    first = simulate(5, seed=3, start=START, sessions_per_day=200)
    again = simulate(5, seed=3, start=START, sessions_per_day=200)
    other = simulate(5, seed=4, start=START, sessions_per_day=200)
    assert first.events.equals(again.events)
    assert first.ground_truth == again.ground_truth
    assert not first.events.equals(other.events)


def test_canonical_schema_and_values(runs: dict) -> None:
    events = runs["stable"].events
    assert dict(events.schema) == CANONICAL_SCHEMA
    assert set(events["event_type"].unique()) == {"view", "cart", "remove_from_cart", "checkout", "purchase"}
    assert events["session_id"].null_count() == 0
    assert events["event_time"].is_sorted()
    purchases = events.filter(pl.col("event_type") == "purchase")
    assert purchases["order_id"].null_count() == 0 and purchases["price"].min() > 0
    assert purchases["quantity"].min() >= 1
    assert (
        events.filter(pl.col("event_type") != "purchase")["order_id"].null_count()
        == events.height - purchases.height
    )
    assert events["event_time"].min() >= datetime(2026, 3, 2, tzinfo=UTC)
    assert 0.05 < events["user_id"].null_count() / events.height < 0.25  # anonymous traffic exists
    gaps = events.sort("session_id", "event_time").select(
        pl.col("event_time").diff().over("session_id").dt.total_minutes().max()
    )
    assert gaps.item() < 30  # re-sessionizing on the default 30-minute gap gives the same sessions


def test_rates_are_plausible(runs: dict) -> None:
    sessions = _sessions(runs["stable"].events)
    conversion = sessions["purchased"].mean()
    assert 0.01 <= conversion <= 0.05
    carted = sessions.filter("carted")
    abandonment = 1 - carted["purchased"].mean()
    assert 0.6 <= abandonment <= 0.8
    by_device = dict(sessions.group_by("device").agg(pl.col("purchased").mean()).iter_rows())
    assert by_device["mobile"] < by_device["desktop"]
    by_visitor = dict(sessions.group_by("visitor").agg(pl.col("purchased").mean()).iter_rows())
    assert by_visitor["returning"] > 2 * by_visitor["new"]
    # users come back: most registered users have more than one session
    visits = sessions.filter(pl.col("user_id").is_not_null()).group_by("user_id").len()
    assert visits["len"].mean() > 2.5


def test_weekly_seasonality_and_scale(runs: dict) -> None:
    sessions = _sessions(runs["stable"].events)
    per_day = sessions.group_by(pl.col("start").dt.date().alias("day")).len()
    weekday = per_day.group_by(pl.col("day").dt.weekday().alias("weekday")).agg(pl.col("len").mean())
    means = dict(weekday.iter_rows())
    assert min(means[6], means[7]) > max(means[1], means[2])  # weekends busier than Monday and Tuesday
    assert 0.85 * PER_DAY < per_day["len"].mean() < 1.15 * PER_DAY


@pytest.mark.parametrize("scenario", [name for name in SCENARIOS if name != "stable"])
def test_nothing_changes_before_the_change_day(runs: dict, scenario: str) -> None:
    truth = runs[scenario].ground_truth
    change = _change_time(truth)
    assert truth["change_day"] == (START + timedelta(days=(2 * DAYS) // 3)).isoformat()
    before = runs[scenario].events.filter(pl.col("event_time") < change)
    stable_before = runs["stable"].events.filter(pl.col("event_time") < change)
    if "ab_group" in before.columns:  # the experiment scenarios add the variant column, empty before the test
        assert before["ab_group"].null_count() == before.height
        before = before.drop("ab_group")
    assert before.height > 0 and before.equals(stable_before)


def test_traffic_shift_brings_low_intent_mobile_social_visitors(runs: dict) -> None:
    truth = runs["traffic_shift"].ground_truth
    sessions = _sessions(runs["traffic_shift"].events)
    change = _change_time(truth)
    before = sessions.filter(pl.col("start") < change)
    after = sessions.filter(pl.col("start") >= change + timedelta(hours=1))
    days_before, days_after = (change.date() - START).days, DAYS - (change.date() - START).days
    assert after.height / days_after > 1.4 * before.height / days_before
    share = lambda frame, column, value: (frame[column] == value).mean()  # noqa: E731
    assert share(after, "channel", "social") > 2 * share(before, "channel", "social")
    assert share(after, "device", "mobile") > share(before, "device", "mobile") + 0.1
    assert after["purchased"].mean() < 0.8 * before["purchased"].mean()
    assert truth["segment"] == {"channel": "social", "device": "mobile", "visitor_type": "new"}


def test_price_change_moves_prices_of_named_categories_only(runs: dict) -> None:
    truth = runs["price_change"].ground_truth
    change = _change_time(truth)
    views = runs["price_change"].events.filter(pl.col("event_type") == "view")
    period = pl.when(pl.col("event_time") < change).then(pl.lit("before")).otherwise(pl.lit("after"))
    mean_price = (
        views.group_by("category", period.alias("period"))
        .agg(pl.col("price").log().mean())
        .pivot("period", index="category", values="price")
    )
    ratio = dict(mean_price.select("category", (pl.col("after") - pl.col("before")).exp()).iter_rows())
    affected = {
        change["scope"].split("=")[1]: change["expected_relative_change"]
        for change in truth["changes"]
        if "scope" in change
    }
    assert set(affected) == set(truth["segment"]["category"]) == {"electronics", "computers"}
    for category, relative in affected.items():
        assert ratio[category] == pytest.approx(1 + relative, rel=0.06)
    for category in ("apparel", "books", "home"):
        assert ratio[category] == pytest.approx(1.0, rel=0.06)


def test_checkout_outage_collapses_mobile_checkout_to_purchase(runs: dict) -> None:
    truth = runs["checkout_outage"].ground_truth
    assert truth["segment"] == {"device": "mobile"}
    change = _change_time(truth)
    sessions = _sessions(runs["checkout_outage"].events).filter(pl.col("checked_out"))

    def step(device: str, after: bool) -> float:
        when = pl.col("start") >= change if after else pl.col("start") < change
        return sessions.filter(when & (pl.col("device") == device))["purchased"].mean()

    assert step("mobile", after=True) < 0.3 * step("mobile", after=False)
    assert step("desktop", after=True) > 0.6 * step("desktop", after=False)


def test_tracking_bug_stops_cart_events_but_not_purchases(runs: dict) -> None:
    truth = runs["tracking_bug"].ground_truth
    change = _change_time(truth)
    events = runs["tracking_bug"].events
    after = events.filter(pl.col("event_time") >= change)
    assert (after["event_type"] == "cart").sum() == 0
    assert (events.filter(pl.col("event_time") < change)["event_type"] == "cart").sum() > 100
    assert (after["event_type"] == "purchase").sum() > 50


def test_default_start_ends_yesterday() -> None:
    sim = simulate(3, sessions_per_day=50)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert sim.ground_truth["end"] == yesterday.isoformat()
    assert sim.ground_truth["start"] == (yesterday - timedelta(days=2)).isoformat()


def test_explicit_scenario_day_and_bad_inputs() -> None:
    sim = simulate(10, scenario="tracking_bug", start=START, sessions_per_day=50, scenario_day="2026-03-05")
    assert sim.ground_truth["change_day"] == "2026-03-05"
    with pytest.raises(InputError, match="scenario 'flood' is unknown"):
        simulate(5, scenario="flood", start=START)
    with pytest.raises(InputError, match="scenario day 2026-04-01"):
        simulate(5, scenario="price_change", start=START, scenario_day="2026-04-01")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        simulate(5, start="March")
    with pytest.raises(InputError, match="at least 1 day"):
        simulate(0)


def test_payment_failure_halves_checkout_to_purchase_for_two_weeks_then_recovers() -> None:
    from datetime import date, timedelta

    from engine.simulator import simulate

    change = date(2026, 2, 2)
    sim = simulate(
        42,
        seed=5,
        scenario="payment_failure",
        start=date(2026, 1, 19),
        sessions_per_day=1500,
        scenario_day=change,
    )
    truth = sim.ground_truth
    assert truth["change_day"] == change.isoformat()
    assert truth["end_day"] == (change + timedelta(days=14)).isoformat()
    sessions = _sessions(sim.events).filter(pl.col("checked_out"))
    day = pl.col("start").dt.date()
    rate = {
        name: sessions.filter(condition)["purchased"].mean()
        for name, condition in {
            "before": day < change,
            "during": (day >= change) & (day < change + timedelta(days=14)),
            "after": day >= change + timedelta(days=14),
        }.items()
    }
    assert 0.35 < rate["during"] / rate["before"] < 0.55  # 45% of purchases go through
    assert 0.85 < rate["after"] / rate["before"] < 1.15  # recovered (about 900 checkouts after: ±7% is 2 se)
