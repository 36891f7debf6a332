"""Frequentist and Bayesian comparisons of a variant with its control, from summary statistics.

Every function takes per-variant summaries (counts, means, variances of the mean) so the same code serves a
session-level test, a user-level ratio metric linearised by the delta method, and a CUPED-adjusted metric.
Formulas and the reference each one is tested against are in docs/analytics.md ("Experiments").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Monte Carlo draws for the beta-binomial chance to beat control and expected loss (seeded: same input, same
# output). 200,000 draws give the chance to beat control to about +-0.001.
BAYES_DRAWS = 200_000
BAYES_SEED = 20260301


@dataclass(frozen=True)
class Estimate:
    """One variant's metric: the point estimate, the variance of that estimate, and the units behind it."""

    mean: float
    variance_of_mean: float
    units: int
    sample_variance: float = math.nan  # per-unit variance, for Welch's test (nan when not a plain mean)


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control: absolute and relative lift with their intervals, a p-value and its test."""

    absolute: float
    absolute_lower: float
    absolute_upper: float
    relative: float
    relative_lower: float
    relative_upper: float
    p_value: float
    test: str
    standard_error: float
    relative_standard_error: float

    def to_dict(self) -> dict[str, float | str]:
        return {
            "absolute_lift": self.absolute,
            "absolute_lower": self.absolute_lower,
            "absolute_upper": self.absolute_upper,
            "relative_lift": self.relative,
            "relative_lower": self.relative_lower,
            "relative_upper": self.relative_upper,
            "p_value": self.p_value,
            "test": self.test,
        }


def proportion_estimate(successes: int, trials: int) -> Estimate:
    """A binomial rate and its variance p(1-p)/n."""
    rate = successes / trials if trials else math.nan
    return Estimate(rate, rate * (1 - rate) / trials if trials else math.nan, trials, rate * (1 - rate))


def mean_estimate(values: np.ndarray) -> Estimate:
    """A plain mean of independent units, with the sample variance (ddof 1) Welch's test needs."""
    count = int(values.size)
    if count < 2:
        return Estimate(float(values.mean()) if count else math.nan, math.nan, count)
    variance = float(values.var(ddof=1))
    return Estimate(float(values.mean()), variance / count, count, variance)


def ratio_estimate(numerator: np.ndarray, denominator: np.ndarray) -> tuple[Estimate, np.ndarray]:
    """sum(numerator)/sum(denominator) over units (e.g. conversions per session, per user) with the delta-method
    variance; also returns each unit's linearised value (its influence on the ratio), which CUPED adjusts."""
    count = int(numerator.size)
    mean_denominator = float(denominator.mean())
    ratio = float(numerator.sum() / denominator.sum())
    linear = (numerator - ratio * denominator) / mean_denominator
    variance = float(linear.var(ddof=1)) / count if count > 1 else math.nan
    return Estimate(ratio, variance, count), linear


def _relative(control: Estimate, treatment: Estimate) -> tuple[float, float]:
    """Relative lift t/c - 1 and its delta-method standard error."""
    relative = treatment.mean / control.mean - 1.0
    variance = treatment.variance_of_mean / control.mean**2 + (
        treatment.mean**2 * control.variance_of_mean / control.mean**4
    )
    return relative, math.sqrt(variance)


def z_compare(
    control: Estimate,
    treatment: Estimate,
    alpha: float,
    *,
    pooled_p_value: tuple[int, int, int, int] | None = None,
) -> Comparison:
    """Normal-theory comparison: Wald intervals from the unpooled variances; the p-value from those variances, or
    the pooled two-proportion z-test (statsmodels' proportions_ztest) when `pooled_p_value` gives
    (control successes, control trials, treatment successes, treatment trials)."""
    difference = treatment.mean - control.mean
    error = math.sqrt(control.variance_of_mean + treatment.variance_of_mean)
    quantile = float(stats.norm.ppf(1 - alpha / 2))
    relative, relative_error = _relative(control, treatment)
    if pooled_p_value is not None:
        p_value = pooled_z_p_value(*pooled_p_value)
        test = "two-proportion z-test (pooled)"
    else:
        p_value = float(2 * stats.norm.sf(abs(difference) / error)) if error > 0 else math.nan
        test = "z-test (delta method)"
    return Comparison(
        difference,
        difference - quantile * error,
        difference + quantile * error,
        relative,
        relative - quantile * relative_error,
        relative + quantile * relative_error,
        p_value,
        test,
        error,
        relative_error,
    )


def pooled_z_p_value(control_successes: int, control_trials: int, successes: int, trials: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (statsmodels proportions_ztest, no continuity
    correction): z = (p_t - p_c) / sqrt(p(1-p)(1/n_t + 1/n_c)) with p the pooled rate."""
    pooled = (control_successes + successes) / (control_trials + trials)
    error = math.sqrt(pooled * (1 - pooled) * (1 / trials + 1 / control_trials))
    if error == 0:
        return math.nan
    z = (successes / trials - control_successes / control_trials) / error
    return float(2 * stats.norm.sf(abs(z)))


def welch_compare(control: Estimate, treatment: Estimate, alpha: float) -> Comparison:
    """Welch's unequal-variance t-test (scipy ttest_ind(equal_var=False)) with a t interval on the difference
    at the Welch-Satterthwaite degrees of freedom; the relative interval uses the same quantile."""
    a = treatment.sample_variance / treatment.units
    b = control.sample_variance / control.units
    error = math.sqrt(a + b)
    freedom = (a + b) ** 2 / (a**2 / (treatment.units - 1) + b**2 / (control.units - 1))
    difference = treatment.mean - control.mean
    quantile = float(stats.t.ppf(1 - alpha / 2, freedom))
    p_value = float(2 * stats.t.sf(abs(difference) / error, freedom)) if error > 0 else math.nan
    relative, relative_error = _relative(control, treatment)
    return Comparison(
        difference,
        difference - quantile * error,
        difference + quantile * error,
        relative,
        relative - quantile * relative_error,
        relative + quantile * relative_error,
        p_value,
        "Welch's t-test",
        error,
        relative_error,
    )


def beta_binomial(
    control_successes: float,
    control_trials: float,
    successes: float,
    trials: float,
    *,
    draws: int = BAYES_DRAWS,
    seed: int = BAYES_SEED,
) -> tuple[float, float]:
    """Chance that the treatment's rate beats control's, and the expected loss of shipping it
    (E[max(p_c - p_t, 0)]), under Beta(1 + successes, 1 + failures) posteriors; seeded Monte Carlo."""
    generator = np.random.default_rng(seed)
    control = generator.beta(1 + control_successes, 1 + control_trials - control_successes, draws)
    treatment = generator.beta(1 + successes, 1 + trials - successes, draws)
    return float((treatment > control).mean()), float(np.maximum(control - treatment, 0).mean())


def normal_bayes(difference: float, error: float) -> tuple[float, float]:
    """Chance to beat control and expected loss for a difference with a normal posterior N(difference, error²)
    (flat prior; used for money metrics): P(D > 0) = Φ(d/s), E[max(-D, 0)] = s·φ(d/s) - d·Φ(-d/s)."""
    if not error > 0:
        return math.nan, math.nan
    ratio = difference / error
    chance = float(stats.norm.cdf(ratio))
    loss = float(error * stats.norm.pdf(ratio) - difference * stats.norm.cdf(-ratio))
    return chance, loss


def effective_counts(estimate: Estimate) -> tuple[float, float]:
    """Successes and trials a binomial with the same rate and variance would have (n_eff = p(1-p)/var): lets the
    beta-binomial model a per-session rate randomised by user without the clustering making it overconfident."""
    rate = estimate.mean
    if not estimate.variance_of_mean > 0:
        return rate * estimate.units, float(estimate.units)
    trials = rate * (1 - rate) / estimate.variance_of_mean
    return rate * trials, trials


def srm_p_value(counts: list[int], expected_shares: list[float] | None = None) -> float:
    """Chi-square goodness-of-fit p-value of the units per variant against the expected split (equal when
    none is given): a tiny value means assignment or tracking is broken (sample-ratio mismatch)."""
    observed = np.asarray(counts, dtype=float)
    shares = (
        np.full(observed.size, 1 / observed.size) if expected_shares is None else np.asarray(expected_shares)
    )
    expected = observed.sum() * shares / shares.sum()
    return float(stats.chisquare(observed, expected).pvalue)


def sessions_per_variant(baseline: float, mde: float, *, power: float = 0.8, alpha: float = 0.05) -> int:
    """Units per variant to detect a relative lift `mde` on a `baseline` rate with a two-sided test: Cohen's
    h = 2·asin(√p2) - 2·asin(√p1), whose estimate has variance 1/n per arm, so n = 2·((z_(1-α/2) + z_power) / h)²
    (statsmodels NormalIndPower().solve_power with proportion_effectsize gives the same number)."""
    treated = baseline * (1 + mde)
    effect = abs(2 * math.asin(math.sqrt(treated)) - 2 * math.asin(math.sqrt(baseline)))
    z_sum = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return math.ceil(2 * (z_sum / effect) ** 2)
