"""Sessions of the simulated shop: who visits when, from where, and how far down the funnel each one goes.

Purchase intent is a latent score built from what a session table can see (returning visitor, loyalty, channel,
device, hour, weekday, how much is viewed, how expensive it is) plus noise, so conversion is learnable but not
trivially so. Arrays are one entry per session; scenario sessions (a campaign) are appended after the usual ones.
"""

from __future__ import annotations

import numpy as np

from engine.simulator.scenarios import Scenario
from engine.simulator.shop import (
    CATEGORY_NAMES,
    CATEGORY_SHARE,
    CHANNEL_SHARE,
    COUNTRY_SHARE,
    DEVICE_SHARE,
    DEVICES,
    EMAIL,
    MOBILE,
    ORGANIC,
    SOCIAL,
    Catalogue,
    Population,
    pick,
    stream,
)

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
# Monday .. Sunday: weekends are busier.
WEEKDAY_FACTOR = np.array([0.90, 0.93, 0.95, 0.97, 1.00, 1.12, 1.13])
WEEKDAY_FACTOR = WEEKDAY_FACTOR / WEEKDAY_FACTOR.mean()
# UTC hour of session starts: quiet nights, a lunch bump and an evening peak.
HOUR_SHARE = np.array(
    [
        1.0,
        0.6,
        0.4,
        0.3,
        0.3,
        0.4,
        0.8,
        1.5,
        2.5,
        3.2,
        3.6,
        3.8,
        4.0,
        3.8,
        3.6,
        3.6,
        3.8,
        4.2,
        4.8,
        5.4,
        5.6,
        5.0,
        3.6,
        2.0,
    ]
)
HOUR_INTENT = np.where((np.arange(24) >= 18) & (np.arange(24) <= 22), 0.2, 0.0) - np.where(
    np.arange(24) < 6, 0.3, 0.0
)
CHANNEL_INTENT = np.array([0.0, 0.15, 0.3, -0.5, 0.45, 0.05])
DEVICE_INTENT = np.array([0.15, -0.1, 0.0])
ANONYMOUS_SHARE = 0.12


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def daily_counts(
    seed: int,
    days: int,
    first_weekday: int,
    sessions_per_day: float,
    share: float = 1.0,
    purpose: str = "daily-counts",
) -> np.ndarray:
    """Sessions per day: the scale times the weekday factor, with a little day-to-day noise; `purpose` names the
    random stream (a campaign's extra traffic draws its own, whatever its share)."""
    generator = stream(seed, purpose)
    weekday = (first_weekday + np.arange(days)) % 7
    mean = sessions_per_day * share * WEEKDAY_FACTOR[weekday] * np.exp(0.04 * generator.standard_normal(days))
    return generator.poisson(mean)


def draw_sessions(
    seed: int,
    days: int,
    first_weekday: int,
    sessions_per_day: float,
    population: Population,
    scenario: Scenario,
    change_index: int | None,
) -> dict[str, np.ndarray]:
    """Who visits when: start time (µs from the first midnight), user, dimensions, visitor type and intent."""
    counts = daily_counts(seed, days, first_weekday, sessions_per_day)
    n_base = int(counts.sum())
    day = np.repeat(np.arange(days), counts)
    campaign_day = np.zeros(0, dtype=np.int64)
    if scenario.campaign_share > 0 and change_index is not None:
        campaign_counts = daily_counts(
            seed, days, first_weekday, sessions_per_day, scenario.campaign_share, purpose="campaign-counts"
        )
        campaign_counts[:change_index] = 0
        campaign_day = np.repeat(np.arange(days), campaign_counts)
    day = np.concatenate([day, campaign_day])
    n_sessions = len(day)
    campaign = np.arange(n_sessions) >= n_base

    hour = pick(stream(seed, "hour"), HOUR_SHARE, n_sessions)
    start = (
        day * DAY_US
        + hour.astype(np.int64) * HOUR_US
        + (stream(seed, "minute").random(n_sessions) * HOUR_US).astype(np.int64)
    )

    anonymous = stream(seed, "anonymous").random(n_sessions) < ANONYMOUS_SHARE
    user = np.full(n_sessions, -1, dtype=np.int64)
    logged = ~anonymous & ~campaign
    user[logged] = population.sample(stream(seed, "user"), day[logged].astype(np.float64))
    # Campaign visitors are people the shop has not seen before; a few of them sign up.
    campaign_users = campaign & ~anonymous
    user[campaign_users] = len(population) + np.arange(int(campaign_users.sum()))

    is_new = np.ones(n_sessions, dtype=bool)
    known = np.flatnonzero(user >= 0)
    order = known[np.argsort(start[known], kind="stable")]
    is_new[known] = False
    _, first = np.unique(user[order], return_index=True)
    is_new[order[first]] = True

    loyalty = np.zeros(n_sessions)
    propensity = np.zeros(n_sessions)
    base_users = (user >= 0) & ~campaign
    loyalty[base_users] = population.loyalty[user[base_users]]
    propensity[base_users] = population.propensity[user[base_users]]

    channel = pick(stream(seed, "channel"), CHANNEL_SHARE, n_sessions)
    channel[(channel == EMAIL) & is_new] = ORGANIC
    channel[campaign] = SOCIAL
    own_device = stream(seed, "own-device").random(n_sessions) < 0.85
    device = pick(stream(seed, "device"), DEVICE_SHARE, n_sessions)
    use_preferred = own_device & base_users
    device[use_preferred] = population.device[user[use_preferred]]
    campaign_device = stream(seed, "campaign-device").random(n_sessions) < 0.9
    device[campaign] = np.where(campaign_device[campaign], MOBILE, DEVICES.index("tablet"))
    country = pick(stream(seed, "country"), COUNTRY_SHARE, n_sessions)
    country[base_users] = population.country[user[base_users]]

    weekend = ((first_weekday + day) % 7) >= 5
    intent = (
        0.9 * stream(seed, "intent").standard_normal(n_sessions)
        + 0.8 * ~is_new
        + 1.4 * (loyalty - 0.5) * base_users
        + propensity
        - 0.3 * anonymous
        + CHANNEL_INTENT[channel]
        + DEVICE_INTENT[device]
        + HOUR_INTENT[hour]
        + 0.1 * weekend
        + scenario.campaign_intent * campaign
    )
    sessions: dict[str, np.ndarray] = {
        "day": day,
        "start": start,
        "user": user,
        "is_new": is_new,
        "campaign": campaign,
        "channel": channel,
        "device": device,
        "country": country,
        "intent": intent,
    }
    if scenario.variants and change_index is not None:
        sessions["variant"] = assign_variants(seed, user, day, len(scenario.variants), change_index)
    return sessions


def assign_variants(
    seed: int, user: np.ndarray, day: np.ndarray, variants: int, change_index: int
) -> np.ndarray:
    """Each session's variant code (-1 before the experiment): one draw per user, so a user keeps a variant;
    anonymous sessions draw their own. Own random streams, so the other scenarios' draws do not move."""
    per_user = stream(seed, "ab-assign").random(int(user.max(initial=0)) + 1)
    per_session = stream(seed, "ab-assign-anonymous").random(len(user))
    draw = np.where(user >= 0, per_user[np.maximum(user, 0)], per_session)
    code = np.minimum((draw * variants).astype(np.int64), variants - 1)
    return np.where(day >= change_index, code, -1)


def draw_funnel(
    seed: int,
    sessions: dict[str, np.ndarray],
    catalogue: Catalogue,
    scenario: Scenario,
    change_index: int | None,
) -> dict[str, np.ndarray]:
    """How far each session goes: views (with their products and prices), carts, checkout, purchase."""
    n_sessions = len(sessions["start"])
    intent = sessions["intent"]
    changed = (
        sessions["day"] >= change_index if change_index is not None else np.zeros(n_sessions, dtype=bool)
    )

    n_views = 1 + np.minimum(stream(seed, "views").poisson(np.exp(0.9 + 0.35 * intent)), 79)
    focus = pick(stream(seed, "focus"), CATEGORY_SHARE, n_sessions)
    view_session = np.repeat(np.arange(n_sessions), n_views)
    stray = stream(seed, "view-stray").random(len(view_session)) < 0.2
    stray_category = pick(stream(seed, "view-category"), CATEGORY_SHARE, len(view_session))
    view_category = np.where(stray, stray_category, focus[view_session])
    view_product = catalogue.sample(stream(seed, "view-product"), view_category)
    factor = price_factors(scenario)
    view_price = catalogue.price[view_product] * np.where(changed[view_session], factor[view_category], 1.0)
    price_z = (
        np.bincount(view_session, weights=catalogue.price_z(view_product, view_price), minlength=n_sessions)
        / n_views
    )

    log_views = np.log(n_views)
    mobile = sessions["device"] == MOBILE
    keep = np.ones(n_sessions)
    if scenario.outage_device is not None:
        outage = changed.copy()
        if scenario.outage_device != "all":
            outage &= sessions["device"] == DEVICES.index(scenario.outage_device)
        if scenario.outage_days is not None and change_index is not None:
            outage &= sessions["day"] < change_index + scenario.outage_days
        keep = np.where(outage, scenario.outage_keep, 1.0)
    if "variant" in sessions:
        lift = np.array([1.0, *(1.0 + np.asarray(scenario.variant_lift))])  # code -1 (no variant) -> index 0
        keep = keep * lift[sessions["variant"] + 1]

    has_cart = stream(seed, "cart").random(n_sessions) < _sigmoid(
        -4.6 + 0.9 * intent + 0.35 * log_views - 0.35 * price_z
    )
    extra = stream(seed, "cart-items").random(n_sessions)
    n_cart = has_cart * (1 + (extra < 0.25) + (extra < 0.08))
    checkout = has_cart & (
        stream(seed, "checkout").random(n_sessions) < _sigmoid(-1.6 + 0.6 * intent - 0.25 * price_z)
    )
    paid = stream(seed, "purchase").random(n_sessions) < keep * _sigmoid(
        -0.8 + 0.4 * intent - 0.25 * mobile - 0.3 * price_z
    )
    checkout_purchase = checkout & paid
    # Express checkout (a saved basket or "buy now"): a purchase with no cart or checkout event in the session.
    express = (
        ~has_cart
        & (sessions["user"] >= 0)
        & (
            stream(seed, "express").random(n_sessions)
            < keep * _sigmoid(-7.5 + 1.0 * intent + 0.3 * log_views - 0.3 * price_z)
        )
    )
    removes = (has_cart & ~checkout & (stream(seed, "remove").random(n_sessions) < 0.3)).astype(np.int64)
    purchased = checkout_purchase | express
    after = stream(seed, "after-purchase").random(n_sessions)
    n_after = purchased * ((after < 0.25).astype(np.int64) + (after < 0.1))
    return {
        "n_views": n_views,
        "view_product": view_product,
        "view_price": view_price,
        "n_cart": n_cart.astype(np.int64),
        "n_remove": removes,
        "n_checkout": checkout.astype(np.int64),
        "n_purchase": np.where(checkout_purchase, n_cart, express.astype(np.int64)),
        "express": express,
        "n_after": n_after.astype(np.int64),
        "focus": focus,
        "price_factor": factor,
        "changed": changed,
    }


def price_factors(scenario: Scenario) -> np.ndarray:
    """Price multiplier per category code once the scenario has started."""
    return np.array([scenario.price_factor.get(name, 1.0) for name in CATEGORY_NAMES])
