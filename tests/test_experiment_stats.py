"""Experiment statistics against scipy (live) and statsmodels (values frozen here; statsmodels is not a dependency)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import integrate, special, stats

from engine.analytics import stats_tests as st
from engine.analytics.experiments import _estimates_user, plan_experiment
from engine.analytics.sequential import half_width, mixture_rho


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # statsmodels.stats.proportion.proportions_ztest([474, 573], [15082, 14868]) -> (-3.34994..., 0.000808289...)
        ((474, 15082, 573, 14868), 0.0008082891067160419),
        # proportions_ztest([120, 150], [4000, 4100]) -> (-1.65075..., 0.0987894...)
        ((120, 4000, 150, 4100), 0.09878942249205536),
    ],
)
def test_pooled_z_p_value_matches_statsmodels(counts: tuple[int, int, int, int], expected: float) -> None:
    assert st.pooled_z_p_value(*counts) == pytest.approx(expected, rel=1e-9)


def test_proportion_comparison_intervals_are_wald_and_delta_method() -> None:
    control, treatment = st.proportion_estimate(474, 15082), st.proportion_estimate(573, 14868)
    result = st.z_compare(control, treatment, 0.05, pooled_p_value=(474, 15082, 573, 14868))
    p_c, p_t = 474 / 15082, 573 / 14868
    se = math.sqrt(p_c * (1 - p_c) / 15082 + p_t * (1 - p_t) / 14868)
    z = stats.norm.ppf(0.975)
    assert result.absolute == pytest.approx(p_t - p_c)
    assert (result.absolute_lower, result.absolute_upper) == pytest.approx(
        (p_t - p_c - z * se, p_t - p_c + z * se)
    )
    # Delta method for p_t / p_c - 1: Var ≈ Var(p_t)/p_c² + p_t² Var(p_c)/p_c⁴.
    rel_se = math.sqrt(p_t * (1 - p_t) / 14868 / p_c**2 + p_t**2 * p_c * (1 - p_c) / 15082 / p_c**4)
    assert result.relative == pytest.approx(p_t / p_c - 1)
    assert result.relative_upper - result.relative == pytest.approx(z * rel_se)
    assert result.p_value == pytest.approx(0.0008082891067160419, rel=1e-9)


def test_welch_matches_scipy_and_the_statsmodels_interval() -> None:
    rng = np.random.default_rng(3)
    control, treatment = rng.gamma(2, 30, 400), rng.gamma(2, 33, 380)
    result = st.welch_compare(st.mean_estimate(control), st.mean_estimate(treatment), 0.05)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    # statsmodels CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(alpha=0.05,
    # usevar="unequal") -> (-2.202367956384121, 10.277143380843638); ttest_ind(..., usevar="unequal") p 0.2044054
    assert (result.absolute_lower, result.absolute_upper) == pytest.approx(
        (-2.202367956384121, 10.277143380843638), rel=1e-9
    )
    assert result.p_value == pytest.approx(0.20440538616747173, rel=1e-9)


def test_srm_chi_square_against_scipy_and_by_hand() -> None:
    assert st.srm_p_value([5000, 4800]) == pytest.approx(stats.chi2.sf(2 * 100**2 / 4900, 1), rel=1e-12)
    assert st.srm_p_value([1000, 1000, 1000]) == pytest.approx(1.0)
    assert st.srm_p_value([10_000, 9_200]) < 0.001


def test_ratio_delta_method_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(5)
    sessions = rng.poisson(2.0, 3000) + 1
    conversions = rng.binomial(sessions, 0.04).astype(float)
    estimate, linear = st.ratio_estimate(conversions, sessions.astype(float))
    ratio = conversions.sum() / sessions.sum()
    n, mu = len(sessions), sessions.mean()
    covariance = np.cov(conversions, sessions, ddof=1)
    textbook = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (n * mu**2)
    assert estimate.mean == pytest.approx(ratio)
    assert estimate.variance_of_mean == pytest.approx(textbook, rel=1e-9)
    assert linear.mean() == pytest.approx(0.0, abs=1e-12)


def _exact_chance_to_beat(a_success: int, a_trials: int, b_success: int, b_trials: int) -> float:
    """Evan Miller's closed form for P(p_B > p_A) with Beta(1 + s, 1 + f) posteriors (integer parameters)."""
    alpha_a, beta_a = 1 + a_success, 1 + a_trials - a_success
    alpha_b, beta_b = 1 + b_success, 1 + b_trials - b_success
    i = np.arange(alpha_b)
    terms = np.exp(
        special.betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - special.betaln(1 + i, beta_b)
        - special.betaln(alpha_a, beta_a)
    )
    return float(terms.sum())


def test_beta_binomial_chance_to_beat_matches_the_closed_form_and_is_seeded() -> None:
    chance, loss = st.beta_binomial(30, 1000, 45, 1000)
    assert chance == pytest.approx(_exact_chance_to_beat(30, 1000, 45, 1000), abs=0.003)
    # Expected loss E[max(p_A - p_B, 0)] by numerical integration over the two Beta posteriors.
    a, b = stats.beta(31, 971), stats.beta(46, 956)
    exact_loss = integrate.quad(
        lambda x: a.pdf(x) * integrate.quad(lambda y: (x - y) * b.pdf(y), 0, x)[0], 0, 0.1
    )[0]
    assert loss == pytest.approx(exact_loss, rel=0.05)
    assert st.beta_binomial(30, 1000, 45, 1000) == (chance, loss)  # seeded: the same input, the same output


def test_normal_bayes_closed_form() -> None:
    chance, loss = st.normal_bayes(0.4, 0.5)
    assert chance == pytest.approx(stats.norm.cdf(0.8))
    reference = integrate.quad(lambda d: max(-d, 0) * stats.norm.pdf(d, 0.4, 0.5), -6, 6, points=[0])[0]
    assert loss == pytest.approx(reference, rel=1e-6)


def test_sample_size_matches_statsmodels() -> None:
    # statsmodels NormalIndPower().solve_power(effect_size=proportion_effectsize(0.033, 0.03), alpha=0.05,
    # power=0.8, ratio=1) -> 53181.7897...; (0.055, 0.05) at alpha 0.01, power 0.9 -> 59180.0719...
    assert st.sessions_per_variant(0.03, 0.1) == math.ceil(53181.78971737066)
    assert st.sessions_per_variant(0.05, 0.1, power=0.9, alpha=0.01) == math.ceil(59180.071936435066)
    plan = plan_experiment(0.03, 0.1, sessions_per_day=2000)
    assert plan["sessions_total"] == 2 * 53182 and plan["days"] == math.ceil(2 * 53182 / 2000)


def test_confidence_sequence_formula_and_width() -> None:
    alpha, tuning = 0.05, 5000.0
    rho = mixture_rho(alpha, tuning)
    assert rho == pytest.approx(
        math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    )
    n, se = 10_000, 0.002
    sigma = se * math.sqrt(n)
    by_hand = sigma * math.sqrt(
        2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )
    assert half_width(se, n, alpha, tuning) == pytest.approx(by_hand, rel=1e-12)
    assert half_width(se, n, alpha, tuning) > stats.norm.ppf(0.975) * se  # wider than one fixed-horizon look


def test_confidence_sequence_keeps_false_positives_when_peeking_daily() -> None:
    """A/A tests looked at 30 times: the fixed-horizon test fires far more often than alpha, the sequence not."""
    rng = np.random.default_rng(11)
    experiments, looks, per_look, rate = 400, 30, 500, 0.05
    a = rng.binomial(per_look, rate, (experiments, looks)).cumsum(axis=1)
    b = rng.binomial(per_look, rate, (experiments, looks)).cumsum(axis=1)
    n = per_look * np.arange(1, looks + 1)
    p_a, p_b = a / n, b / n
    se = np.sqrt(p_a * (1 - p_a) / n + p_b * (1 - p_b) / n)
    difference = np.abs(p_b - p_a)
    fixed = (difference > stats.norm.ppf(0.975) * se).any(axis=1).mean()
    sequential = (difference > half_width(se, 2 * n, 0.05)).any(axis=1).mean()
    assert fixed > 0.15 and sequential <= 0.05


def test_cuped_reduces_variance_by_the_squared_correlation() -> None:
    rng = np.random.default_rng(8)
    users = 6000
    covariate = rng.gamma(1.5, 40, users)
    variant = np.where(rng.random(users) < 0.5, "A", "B")
    revenue = 0.8 * covariate + rng.normal(0, 30, users) + np.where(variant == "B", 4.0, 0.0)
    frame = pl.DataFrame(
        {
            "variant": variant,
            "revenue": revenue,
            "converted": np.zeros(users),
            "sessions": np.ones(users),
            "covariate": covariate,
        }
    )
    plain, _ = _estimates_user(frame, ["A", "B"], "revenue_per_user", cuped=False)
    adjusted, detail = _estimates_user(frame, ["A", "B"], "revenue_per_user", cuped=True)
    assert detail is not None
    correlation = np.corrcoef(revenue - np.where(variant == "B", 4.0, 0.0), covariate)[0, 1]
    assert detail["variance_reduction"] == pytest.approx(correlation**2, abs=0.02)
    assert adjusted["B"].variance_of_mean < 0.5 * plain["B"].variance_of_mean
    lift = adjusted["B"].mean - adjusted["A"].mean
    assert abs(lift - 4.0) < 2 * math.sqrt(adjusted["A"].variance_of_mean + adjusted["B"].variance_of_mean)
