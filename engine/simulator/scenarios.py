"""The scenarios the simulator can inject on a change day, and the ground truth it writes for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

SCENARIOS = (
    "stable",
    "traffic_shift",
    "price_change",
    "checkout_outage",
    "payment_failure",
    "tracking_bug",
    "order_fraud",
    "experiment",
    "experiment_srm",
)
# The event column an experiment scenario writes each session's variant into (null before the experiment).
EXPERIMENT_COLUMN = "ab_group"


@dataclass(frozen=True)
class Scenario:
    """What changes from the change day on; `stable` changes nothing."""

    name: str
    campaign_share: float = 0.0  # extra campaign sessions as a share of the usual daily sessions
    campaign_intent: float = 0.0  # shift of the campaign sessions' purchase intent (log-odds scale)
    price_factor: dict[str, float] = field(default_factory=dict)  # category -> price multiplier
    outage_device: str | None = None  # device whose checkout -> purchase step fails ("all": every device)
    outage_keep: float = 1.0  # share of purchases that still go through during the outage
    outage_days: int | None = None  # how long the outage lasts (None: until the end of the data)
    dropped_event_type: str | None = None  # event type that stops arriving
    variants: tuple[str, ...] = ()  # an A/B test from the change day on: variant names, control first
    variant_lift: tuple[float, ...] = ()  # true relative lift of each variant's purchase probability
    srm_lost_share: float = 0.0  # share of the last variant's non-buying sessions whose events never arrive


SCENARIO_SETTINGS = {
    "stable": Scenario("stable"),
    "traffic_shift": Scenario("traffic_shift", campaign_share=0.6, campaign_intent=-1.2),
    "price_change": Scenario("price_change", price_factor={"electronics": 1.35, "computers": 1.35}),
    "checkout_outage": Scenario("checkout_outage", outage_device="mobile", outage_keep=0.08),
    "payment_failure": Scenario("payment_failure", outage_device="all", outage_keep=0.45, outage_days=14),
    "tracking_bug": Scenario("tracking_bug", dropped_event_type="cart"),
    "order_fraud": Scenario("order_fraud"),  # a layer over the stable shop: engine/simulator/fraud.py
    "experiment": Scenario("experiment", variants=("A", "B"), variant_lift=(0.0, 0.15)),
    "experiment_srm": Scenario(
        "experiment_srm", variants=("A", "B"), variant_lift=(0.0, 0.15), srm_lost_share=0.08
    ),
}


def day_start(day: date) -> datetime:
    """Midnight UTC of a day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def describe(scenario: Scenario, change: date | None) -> dict[str, Any]:
    """The ground-truth entry for a scenario: what changed, from when, for whom, and by how much."""
    if scenario.name == "stable" or change is None:
        return {
            "change_day": None,
            "change_time": None,
            "segment": {},
            "what": "nothing changes: traffic, prices, funnel and tracking follow the same process every day",
            "changes": [],
        }
    when = {
        "change_day": change.isoformat(),
        "change_time": day_start(change).isoformat().replace("+00:00", "Z"),
    }
    if scenario.name == "order_fraud":
        from engine.simulator.fraud import describe_fraud

        return describe_fraud(change)
    if scenario.name == "traffic_shift":
        return when | {
            "segment": {"channel": "social", "device": "mobile", "visitor_type": "new"},
            "what": (
                f"a campaign adds about {scenario.campaign_share:.0%} more sessions a day: new visitors from "
                "social on mobile with low purchase intent, so volume rises and overall conversion falls"
            ),
            "changes": [
                {
                    "metric": "sessions",
                    "scope": "overall",
                    "expected_relative_change": scenario.campaign_share,
                },
                {"metric": "conversion_rate", "scope": "overall", "direction": "down"},
                {"metric": "share", "scope": "segment:channel=social", "direction": "up"},
                {"feature": "channel", "direction": "drift"},
                {"feature": "device", "direction": "drift"},
                {"feature": "visitor_type", "direction": "drift"},
            ],
        }
    if scenario.name == "price_change":
        return when | {
            "segment": {"category": sorted(scenario.price_factor)},
            "what": (
                "prices of "
                + ", ".join(f"{name} x{factor:g}" for name, factor in sorted(scenario.price_factor.items()))
                + "; price features drift and those categories convert a little less"
            ),
            "changes": [
                {
                    "metric": "price",
                    "scope": f"category={name}",
                    "expected_relative_change": round(factor - 1.0, 4),
                }
                for name, factor in sorted(scenario.price_factor.items())
            ]
            + [
                {"feature": "view_price_mean", "direction": "up"},
                {"feature": "cart_value", "direction": "up"},
            ],
        }
    if scenario.name == "checkout_outage":
        device = scenario.outage_device
        return when | {
            "segment": {"device": device},
            "what": (
                f"checkout fails on {device}: only {scenario.outage_keep:.0%} of the usual {device} purchases "
                "go through; other devices are unaffected"
            ),
            "changes": [
                {
                    "metric": "funnel:checkout->purchase",
                    "scope": f"segment:device={device}",
                    "expected_relative_change": round(scenario.outage_keep - 1.0, 4),
                },
                {"metric": "conversion_rate", "scope": f"segment:device={device}", "direction": "down"},
            ],
        }
    if scenario.name == "payment_failure":
        end = change + timedelta(days=scenario.outage_days or 0)
        return when | {
            "end_day": end.isoformat(),
            "end_time": day_start(end).isoformat().replace("+00:00", "Z"),
            "segment": {},
            "what": (
                f"the payment step fails for {scenario.outage_days} days on every device: only "
                f"{scenario.outage_keep:.0%} of the usual purchases go through from checkout, then it recovers"
            ),
            "changes": [
                {
                    "metric": "funnel:checkout->purchase",
                    "scope": "overall",
                    "expected_relative_change": round(scenario.outage_keep - 1.0, 4),
                    "until": end.isoformat(),
                },
                {
                    "metric": "conversion_rate",
                    "scope": "overall",
                    "direction": "down",
                    "until": end.isoformat(),
                },
            ],
        }
    if scenario.variants:
        return when | _describe_experiment(scenario)
    event_type = scenario.dropped_event_type
    return when | {
        "segment": {},
        "what": f"a tracking bug: '{event_type}' events stop arriving (purchases still happen)",
        "changes": [
            {"metric": f"events:{event_type}", "scope": "overall", "expected_relative_change": -1.0},
            {"metric": "cart_rate", "scope": "overall", "expected_relative_change": -1.0},
            {"metric": "funnel:view->cart", "scope": "overall", "expected_relative_change": -1.0},
        ],
    }


def _describe_experiment(scenario: Scenario) -> dict[str, Any]:
    control = scenario.variants[0]
    bug = scenario.srm_lost_share > 0
    return {
        "segment": {},
        "what": (
            f"an A/B test from the change day on: users (anonymous visitors by session) are split evenly over "
            f"{', '.join(scenario.variants)} in column {EXPERIMENT_COLUMN!r}; "
            + ", ".join(
                f"{name} lifts the purchase probability by {lift:+.0%}"
                for name, lift in zip(scenario.variants, scenario.variant_lift, strict=True)
                if name != control
            )
            + (
                f"; an SRM bug loses {scenario.srm_lost_share:.0%} of {scenario.variants[-1]}'s sessions that do "
                "not buy (their events never arrive), which also inflates its measured conversion"
                if bug
                else ""
            )
        ),
        "experiment": {
            "dimension_column": EXPERIMENT_COLUMN,
            "variants": list(scenario.variants),
            "control": control,
            "assignment": "user (anonymous visitors: session)",
            "expected_split": {name: 1 / len(scenario.variants) for name in scenario.variants},
            "true_relative_lift": dict(zip(scenario.variants, scenario.variant_lift, strict=True)),
            "srm_bug": (
                {
                    "variant": scenario.variants[-1],
                    "lost_share_of_non_buying_sessions": scenario.srm_lost_share,
                }
                if bug
                else None
            ),
        },
        "changes": [
            {
                "metric": "conversion_rate",
                "scope": f"segment:{EXPERIMENT_COLUMN}={name}",
                "expected_relative_change": lift,
            }
            for name, lift in zip(scenario.variants, scenario.variant_lift, strict=True)
            if name != control
        ],
    }
