"""The simulated shop's fixed parts: a catalogue of priced products in categories, and a user population.

Every random draw comes from a generator named by its purpose (`stream(seed, name)`), so a scenario that adds
sessions at the end of the arrays leaves the draws of every earlier session untouched.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# (name, typical price, share of browsing)
CATEGORIES: tuple[tuple[str, float, float], ...] = (
    ("electronics", 320.0, 0.16),
    ("computers", 650.0, 0.08),
    ("appliances", 240.0, 0.09),
    ("apparel", 45.0, 0.17),
    ("shoes", 70.0, 0.10),
    ("beauty", 22.0, 0.10),
    ("home", 55.0, 0.11),
    ("kids", 30.0, 0.07),
    ("sports", 60.0, 0.07),
    ("books", 15.0, 0.05),
)
CATEGORY_NAMES = tuple(name for name, _, _ in CATEGORIES)
CATEGORY_SHARE = np.array([share for _, _, share in CATEGORIES])

CHANNELS = ("organic", "paid_search", "direct", "social", "email", "referral")
CHANNEL_SHARE = np.array([0.30, 0.20, 0.15, 0.15, 0.10, 0.10])
DEVICES = ("desktop", "mobile", "tablet")
DEVICE_SHARE = np.array([0.38, 0.55, 0.07])
COUNTRIES = ("DE", "GB", "FR", "NL", "ES", "IT", "PL")
COUNTRY_SHARE = np.array([0.30, 0.20, 0.15, 0.10, 0.10, 0.10, 0.05])

MOBILE = DEVICES.index("mobile")
SOCIAL = CHANNELS.index("social")
EMAIL = CHANNELS.index("email")
ORGANIC = CHANNELS.index("organic")


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose, independent of how many draws other purposes consumed."""
    return np.random.default_rng([int(seed), zlib.crc32(purpose.encode("utf-8"))])


def pick(generator: np.random.Generator, shares: np.ndarray, size: int) -> np.ndarray:
    """Draw category codes with the given shares by inverse CDF (a prefix of the draws never changes)."""
    cumulative = np.cumsum(shares / shares.sum())
    codes = np.searchsorted(cumulative, generator.random(size), side="right")
    return np.minimum(codes, len(shares) - 1).astype(np.int32)


@dataclass(frozen=True)
class Catalogue:
    """Products sorted by category, with prices and a Zipf-like popularity inside each category."""

    category: np.ndarray  # int32 per product
    price: np.ndarray  # float64 base price per product
    cumulative_weight: np.ndarray  # inclusive cumulative popularity over all products
    category_first: np.ndarray  # first product index of each category
    category_end: np.ndarray  # one past the last product index of each category
    log_price_mean: np.ndarray  # per category, of the base prices
    log_price_std: np.ndarray

    def sample(self, generator: np.random.Generator, categories: np.ndarray) -> np.ndarray:
        """One product per entry of `categories`, drawn by popularity within that category."""
        low = np.where(self.category_first > 0, self.cumulative_weight[self.category_first - 1], 0.0)
        high = self.cumulative_weight[self.category_end - 1]
        target = low[categories] + generator.random(len(categories)) * (high - low)[categories]
        index = np.searchsorted(self.cumulative_weight, target, side="right")
        return np.clip(index, self.category_first[categories], self.category_end[categories] - 1)

    def price_z(self, products: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """How expensive each price is for its category, in standard deviations of log base price."""
        category = self.category[products]
        return (np.log(prices) - self.log_price_mean[category]) / self.log_price_std[category]


def make_catalogue(seed: int, products_per_category: int = 300) -> Catalogue:
    """A seeded catalogue: log-normal prices around each category's typical price, ending in .99."""
    generator = stream(seed, "catalogue")
    n_categories = len(CATEGORIES)
    category = np.repeat(np.arange(n_categories, dtype=np.int32), products_per_category)
    typical = np.array([price for _, price, _ in CATEGORIES])[category]
    raw = typical * np.exp(0.55 * generator.standard_normal(len(category)))
    price = np.maximum(np.floor(raw) + 0.99, 0.99)
    share = np.array([share for _, _, share in CATEGORIES])
    rank = np.tile(np.arange(1, products_per_category + 1), n_categories)
    weight = rank**-0.9
    weight = weight / np.bincount(category, weights=weight)[category] * share[category]
    first = np.arange(n_categories) * products_per_category
    log_price = np.log(price)
    mean = np.bincount(category, weights=log_price) / products_per_category
    std = np.sqrt(np.bincount(category, weights=(log_price - mean[category]) ** 2) / products_per_category)
    return Catalogue(
        category=category,
        price=price,
        cumulative_weight=np.cumsum(weight),
        category_first=first,
        category_end=first + products_per_category,
        log_price_mean=mean,
        log_price_std=std,
    )


@dataclass(frozen=True)
class Population:
    """Registered users ordered by the day they first could visit; loyal users visit often and for longer."""

    arrival: np.ndarray  # float day (relative to the start) from which the user may visit, ascending
    departure: np.ndarray  # float day after which the user has lapsed (churned)
    cumulative_weight: np.ndarray  # inclusive cumulative visit weight in arrival order
    loyalty: np.ndarray  # 0..1 percentile of the visit weight
    propensity: np.ndarray  # a lasting personal taste for buying (log-odds), so buyers buy again
    device: np.ndarray  # preferred device code
    country: np.ndarray  # home country code

    def __len__(self) -> int:
        return len(self.arrival)

    def sample(self, generator: np.random.Generator, day: np.ndarray, rounds: int = 8) -> np.ndarray:
        """A user for each session on `day`, by visit weight among users who have arrived and not lapsed."""
        eligible = np.maximum(np.searchsorted(self.arrival, day + 0.5, side="right"), 1)
        users = np.zeros(len(day), dtype=np.int64)
        pending = np.arange(len(day))
        for _ in range(rounds):
            if len(pending) == 0:
                break
            limit = self.cumulative_weight[eligible[pending] - 1]
            drawn = np.searchsorted(
                self.cumulative_weight, generator.random(len(pending)) * limit, side="right"
            )
            drawn = np.minimum(drawn, eligible[pending] - 1)
            users[pending] = drawn
            # A lapsed user does not come back: draw again (the last round keeps whoever it got).
            pending = pending[self.departure[drawn] < day[pending]]
        return users


def make_population(seed: int, n_users: int, days: int) -> Population:
    """Users arriving over the period (a third of them before it), with log-normal visit weights."""
    generator = stream(seed, "population")
    n_users = max(int(n_users), 10)
    arrival = np.sort(generator.uniform(-0.5 * days - 1.0, days, n_users))
    arrival[0] = -1.0 - 0.5 * days  # someone can always visit on day 0
    weight = np.exp(1.3 * generator.standard_normal(n_users))
    loyalty = (np.argsort(np.argsort(weight)) + 0.5) / n_users
    # Loyal users stay longer: lifetimes from about a month to several months.
    lifetime = generator.exponential(25.0 + 120.0 * loyalty)
    return Population(
        arrival=arrival,
        departure=arrival + lifetime + 1.0,
        cumulative_weight=np.cumsum(weight),
        loyalty=loyalty,
        propensity=0.9 * stream(seed, "propensity").standard_normal(n_users),
        device=pick(generator, DEVICE_SHARE, n_users),
        country=pick(generator, COUNTRY_SHARE, n_users),
    )
