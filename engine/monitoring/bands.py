"""KPI anomaly bands whose width comes from the statistic: an exact beta-binomial tail for rates, Welch's t for means.

A rate's current count is judged against the predictive distribution the baseline windows give it: a
beta-binomial whose mean is the pooled baseline rate and whose spread carries the current window's own binomial
noise, the baseline's uncertainty and the over-dispersion the baseline windows show between themselves. Low
volume therefore widens the band instead of silencing the check; only a window in which no count at all could
leave the band on the side that matters is uninformative. Means use Welch's t with its Satterthwaite degrees of
freedom, so a mean of a few orders gets a t band, not a normal one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# scipy.special, not scipy.stats: that costs a second to import, and its distributions wrap these functions.
from scipy import special

# Over-dispersion is used only on evidence (the baseline windows' chi-square significant at this level) and capped.
DISPERSION_LEVEL = 0.05
MAX_DISPERSION = 10.0
# A z-score from an exact tail is clipped here: beyond it the tail underflows and the sign is all that matters.
MAX_ABS_Z = 38.0


def tail_probability(z: float) -> float:
    """The one-sided tail probability a band `z` standard deviations wide stands for (Φ(−z))."""
    return float(special.ndtr(-z))


@functools.lru_cache(maxsize=64)
def _chi2_critical(degrees: int) -> float:
    return float(special.chdtri(degrees, DISPERSION_LEVEL))


@dataclass(frozen=True)
class Predictive:
    """The beta-binomial predictive of a window's rate: Beta(a, b) mixing, pooled rate, dispersion φ and ρ."""

    a: float
    b: float
    rate: float
    dispersion: float
    correlation: float
    trials: float


def predictive(baselines: Sequence[tuple[float, float]]) -> Predictive | None:
    """The predictive distribution of a rate from baseline windows' (successes, trials); None without trials.

    Without over-dispersion this is the Jeffreys posterior, Beta(S + ½, N − S + ½). When the windows differ
    more than binomial noise would (chi-square significant at 5%), φ = chi²/df (capped at 10) gives the
    intra-window correlation ρ = (φ − 1)/(n̄ − 1), and the Beta's concentration m shrinks to
    1 / (φ/(N + 1) + ρ): the baseline rate is less certain, and each window's own rate varies around it.
    """
    populated = [(float(s), float(n)) for s, n in baselines if n > 0]
    total_successes = sum(s for s, _ in populated)
    total_trials = sum(n for _, n in populated)
    if total_trials <= 0:
        return None
    rate = (total_successes + 0.5) / (total_trials + 1.0)
    dispersion, correlation = 1.0, 0.0
    if len(populated) >= 2:
        variance = rate * (1.0 - rate)
        chi2 = sum((s - n * rate) ** 2 / (n * variance) for s, n in populated)
        degrees = len(populated) - 1
        mean_trials = total_trials / len(populated)
        if chi2 > _chi2_critical(degrees) and mean_trials > 1:
            dispersion = min(chi2 / degrees, MAX_DISPERSION)
            correlation = min((dispersion - 1.0) / (mean_trials - 1.0), 1.0)
    concentration = 1.0 / (dispersion / (total_trials + 1.0) + correlation)
    return Predictive(
        a=rate * concentration,
        b=(1.0 - rate) * concentration,
        rate=total_successes / total_trials,
        dispersion=dispersion,
        correlation=correlation,
        trials=total_trials,
    )


def betabinom_pmf(trials: int, a: float, b: float) -> np.ndarray:
    """P(X = k) for k = 0..trials under a beta-binomial (as scipy.stats.betabinom, vectorised in log space)."""
    k = np.arange(trials + 1, dtype=np.float64)
    log_choose = special.gammaln(trials + 1.0) - special.gammaln(k + 1.0) - special.gammaln(trials - k + 1.0)
    log_pmf = log_choose + special.betaln(k + a, trials - k + b) - special.betaln(a, b)
    return np.exp(log_pmf)


@dataclass(frozen=True)
class RateBand:
    """Where a count falls in its predictive: the band in counts, both exact tails and a mid-p z-score."""

    lower_count: int  # the smallest count that is not flagged low (0: no count can be flagged low)
    upper_count: int  # the largest count that is not flagged high (trials: no count can be flagged high)
    p_low: float  # P(X ≤ x)
    p_high: float  # P(X ≥ x)
    z: float  # Φ⁻¹ of the mid-p, P(X < x) + ½·P(X = x): about N(0, 1) when nothing changed
    p_zero: float  # P(X = 0): when it is ≥ alpha no count can be flagged low
    p_all: float  # P(X = trials): when it is ≥ alpha no count can be flagged high

    def side_informative(self, side: str, trials: int) -> bool:
        """Whether any count could be flagged on this side ("low" or "high")."""
        return self.lower_count > 0 if side == "low" else self.upper_count < trials


def rate_band(successes: int, trials: int, a: float, b: float, alpha: float) -> RateBand:
    """Judge `successes` of `trials` against Beta-binomial(trials, a, b) with one-sided level `alpha` per side.

    A count is flagged low when P(X ≤ x) < alpha and high when P(X ≥ x) < alpha: exact tails, so a window of a
    few trials gets a band as wide as its noise and can never be flagged by chance more often than alpha.
    """
    pmf = betabinom_pmf(trials, a, b)
    cdf = np.cumsum(pmf)
    sf = np.cumsum(pmf[::-1])[::-1]  # P(X ≥ k), summed from the small end of the upper tail
    lower_count = int(np.count_nonzero(cdf < alpha))
    upper_count = int(trials - np.count_nonzero(sf < alpha))
    x = int(round(successes))
    below = float(cdf[x - 1]) if x > 0 else 0.0
    above = float(sf[x + 1]) if x < trials else 0.0
    mid_low = below + 0.5 * float(pmf[x])
    mid_high = above + 0.5 * float(pmf[x])
    if mid_low <= mid_high:
        z = float(special.ndtri(max(mid_low, 1e-300)))
    else:
        z = -float(special.ndtri(max(mid_high, 1e-300)))
    return RateBand(
        lower_count=lower_count,
        upper_count=max(upper_count, lower_count),
        p_low=min(float(cdf[x]), 1.0),
        p_high=min(float(sf[x]), 1.0),
        z=max(-MAX_ABS_Z, min(MAX_ABS_Z, z)),
        p_zero=float(pmf[0]),
        p_all=float(pmf[-1]),
    )


@dataclass(frozen=True)
class MeanBand:
    """Welch's two-sample comparison of a mean with its baseline: t, its degrees of freedom and the band."""

    t: float
    degrees: float
    standard_error: float
    lower: float
    upper: float


def welch_band(
    value: float,
    variance: float,
    count: float,
    baseline: float,
    base_variance: float,
    base_count: float,
    alpha: float,
) -> MeanBand:
    """The band `baseline ± t(1 − alpha, df) · se` with se² = s²/n + s_b²/n_b (sample variances, ddof 1)."""
    current_part = variance / count
    base_part = base_variance / base_count
    squared = current_part + base_part
    standard_error = math.sqrt(squared)
    if standard_error <= 0:
        return MeanBand(
            0.0 if value == baseline else math.copysign(math.inf, value - baseline),
            math.inf,
            0.0,
            baseline,
            baseline,
        )
    denominator = current_part**2 / (count - 1) + base_part**2 / (base_count - 1)
    degrees = squared**2 / denominator if denominator > 0 else math.inf
    critical = -float(special.stdtrit(degrees, alpha))
    return MeanBand(
        t=(value - baseline) / standard_error,
        degrees=degrees,
        standard_error=standard_error,
        lower=baseline - critical * standard_error,
        upper=baseline + critical * standard_error,
    )
