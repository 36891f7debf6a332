"""The KPI bands' statistics against scipy's reference implementations, and the low-volume behaviour they buy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.monitoring.bands import betabinom_pmf, predictive, rate_band, tail_probability, welch_band

ALPHA = tail_probability(4.0)  # the default anomaly_z


@pytest.mark.parametrize(
    ("trials", "a", "b"), [(1, 0.5, 0.5), (51, 30.5, 20.5), (400, 2.0, 9.0), (3000, 900.0, 2100.0)]
)
def test_betabinom_pmf_is_scipys(trials: int, a: float, b: float) -> None:
    reference = stats.betabinom.pmf(np.arange(trials + 1), trials, a, b)
    np.testing.assert_allclose(betabinom_pmf(trials, a, b), reference, rtol=1e-9, atol=1e-300)


def test_rate_band_tails_are_scipys_and_exact() -> None:
    trials, a, b = 51, 300.5, 200.5
    band = rate_band(13, trials, a, b, ALPHA)
    assert band.p_low == pytest.approx(stats.betabinom.cdf(13, trials, a, b), rel=1e-9)
    assert band.p_high == pytest.approx(stats.betabinom.sf(12, trials, a, b), rel=1e-9)
    # exact level: the counts flagged low have total probability below alpha, one more count would not
    assert stats.betabinom.cdf(band.lower_count - 1, trials, a, b) < ALPHA
    assert stats.betabinom.cdf(band.lower_count, trials, a, b) >= ALPHA
    assert stats.betabinom.sf(band.upper_count, trials, a, b) < ALPHA  # P(X > upper) = P(X ≥ upper + 1)


def test_predictive_is_the_jeffreys_posterior_without_overdispersion() -> None:
    baselines = [(30.0, 50.0), (31.0, 50.0), (29.0, 50.0), (30.0, 50.0)]  # binomial-quiet windows
    fitted = predictive(baselines)
    assert fitted is not None and fitted.dispersion == 1.0 and fitted.correlation == 0.0
    assert (fitted.a, fitted.b) == pytest.approx((120.5, 80.5))
    assert predictive([(0.0, 0.0)]) is None


def test_overdispersed_baseline_widens_the_band() -> None:
    quiet = predictive([(30.0, 50.0), (31.0, 50.0), (29.0, 50.0), (30.0, 50.0)])
    noisy = predictive([(45.0, 50.0), (15.0, 50.0), (40.0, 50.0), (20.0, 50.0)])
    assert quiet is not None and noisy is not None and noisy.dispersion > 1.0
    narrow = rate_band(30, 50, quiet.a, quiet.b, ALPHA)
    wide = rate_band(30, 50, noisy.a, noisy.b, ALPHA)
    assert wide.lower_count < narrow.lower_count and wide.upper_count > narrow.upper_count


def test_low_volume_widens_the_band_instead_of_silencing_it() -> None:
    """The issue's small shop: checkout→purchase falls from 60% to 25% on 51 checkouts; 0.6 on 51 passes."""
    baseline = predictive([(31.0, 52.0), (30.0, 49.0), (32.0, 53.0), (29.0, 50.0)])
    assert baseline is not None
    fallen = rate_band(13, 51, baseline.a, baseline.b, ALPHA)
    assert fallen.p_low < ALPHA and fallen.z < -4.0  # alerted at the default z = 4
    normal = rate_band(31, 51, baseline.a, baseline.b, ALPHA)
    assert normal.lower_count <= 31 <= normal.upper_count and abs(normal.z) < 1.0
    few = rate_band(3, 5, baseline.a, baseline.b, ALPHA)
    big = rate_band(600, 1000, baseline.a, baseline.b, ALPHA)
    # relative width of the band: wider at 5 trials than at 1,000, and at 5 no count can be flagged low
    assert (few.upper_count - few.lower_count) / 5 > (big.upper_count - big.lower_count) / 1000
    assert not few.side_informative("low", 5)


def test_false_alarm_rate_of_the_band_is_at_most_alpha_when_nothing_changed() -> None:
    rng = np.random.default_rng(11)
    a, b = 0.3 * 2000 + 0.5, 0.7 * 2000 + 0.5
    flagged = 0
    for trials in rng.integers(20, 400, size=2000):
        count = int(rng.binomial(int(trials), 0.3))
        band = rate_band(count, int(trials), a, b, 0.01)
        flagged += band.p_low < 0.01
    assert flagged <= 2000 * 0.01 * 1.5


def test_welch_band_is_scipys_welch_test() -> None:
    value, variance, count = 52.0, 90.0, 40
    baseline, base_variance, base_count = 60.0, 110.0, 300
    band = welch_band(value, variance, count, baseline, base_variance, base_count, 0.01)
    reference = stats.ttest_ind_from_stats(
        value, math.sqrt(variance), count, baseline, math.sqrt(base_variance), base_count, equal_var=False
    )
    assert band.t == pytest.approx(reference.statistic, rel=1e-12)
    se = math.sqrt(variance / count + base_variance / base_count)
    assert band.lower == pytest.approx(baseline - stats.t.isf(0.01, band.degrees) * se)
    # Satterthwaite degrees of freedom as scipy derives them: same two-sided p-value
    assert 2 * stats.t.sf(abs(band.t), band.degrees) == pytest.approx(reference.pvalue, rel=1e-9)


def test_a_flagged_baseline_window_stays_out_so_an_incident_keeps_firing() -> None:
    from engine.monitoring.kpis import _kept

    # window 1 (last week) was the incident's first week and was flagged; weeks 2-4 were normal
    windows = [(1, (13.0, 51.0)), (2, (31.0, 52.0)), (3, (30.0, 49.0)), (4, (32.0, 53.0))]
    kept, excluded, new_normal = _kept(windows, {1})
    assert kept == [(31.0, 52.0), (30.0, 49.0), (32.0, 53.0)] and excluded == [1] and not new_normal
    with_incident = predictive([(s, n) for s, n in (item for _, item in windows)])
    without = predictive(kept)
    assert with_incident is not None and without is not None
    # the second incident week: still flagged against the clean baseline, absorbed by the polluted one
    assert rate_band(13, 51, without.a, without.b, ALPHA).p_low < ALPHA
    assert rate_band(13, 51, with_incident.a, with_incident.b, ALPHA).p_low >= ALPHA
    # a change that lasted the whole baseline is the new normal: every window is kept
    kept_all, excluded_none, lasting = _kept(windows, {1, 2, 3, 4})
    assert len(kept_all) == 4 and excluded_none == [] and lasting
