"""Small closed-form statistics the funnel reports: Wilson intervals and the two-proportion z-test."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (z standard deviations wide); (0, 1) with no trials."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(
    successes_a: float, trials_a: float, successes_b: float, trials_b: float
) -> tuple[float | None, float | None]:
    """Pooled two-sided z-test that two binomial proportions are equal: (z, p-value); (None, None) when undefined."""
    if trials_a <= 0 or trials_b <= 0:
        return (None, None)
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return (None, None)
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return (z, math.erfc(abs(z) / math.sqrt(2)))
