"""The drift statistics agree with scipy's reference implementations on random data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon as scipy_jensenshannon

from engine.monitoring import stats


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


def test_jensenshannon_matches_scipy(rng: np.random.Generator) -> None:
    for _ in range(20):
        size = int(rng.integers(2, 40))
        reference = rng.integers(0, 500, size)
        current = rng.integers(0, 500, size)
        current[rng.integers(0, size)] = 0
        assert stats.jensenshannon(reference, current) == pytest.approx(
            scipy_jensenshannon(reference, current), abs=1e-12
        )


def test_chi_square_matches_contingency_test(rng: np.random.Generator) -> None:
    for _ in range(20):
        size = int(rng.integers(2, 30))
        reference = rng.integers(1, 1000, size)
        current = rng.integers(1, 300, size)
        statistic, p_value = stats.chi_square(reference, current)
        expected = scipy_stats.chi2_contingency(np.vstack([reference, current]), correction=False)
        assert statistic == pytest.approx(expected.statistic, rel=1e-10)
        assert p_value == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)


def test_chi_square_drops_categories_empty_on_both_sides() -> None:
    with_empty = stats.chi_square(np.array([10, 0, 30]), np.array([12, 0, 25]))
    without = stats.chi_square(np.array([10, 30]), np.array([12, 25]))
    assert with_empty == pytest.approx(without)


def test_chi_square_is_a_two_sample_test_not_goodness_of_fit() -> None:
    # The same 1% shift is significant when both samples are huge, not when the reference is small.
    reference_small = np.array([505, 495])
    reference_large = np.array([505_000, 495_000])
    current = np.array([500_000, 500_000])
    assert stats.chi_square(reference_small, current)[1] > 0.5
    assert stats.chi_square(reference_large, current)[1] < 1e-6


def test_ks_matches_scipy(rng: np.random.Generator) -> None:
    for size in (30, 400, 3000):
        reference = rng.normal(size=2000)
        current = rng.normal(0.1, 1.2, size=size)
        expected = scipy_stats.ks_2samp(reference, current)
        assert stats.ks_test(reference, current) == pytest.approx((expected.statistic, expected.pvalue))


def test_psi_matches_formula_and_floors_empty_bins(rng: np.random.Generator) -> None:
    reference = rng.integers(1, 100, 10)
    current = rng.integers(1, 100, 10)
    r, c = reference / reference.sum(), current / current.sum()
    assert stats.psi(reference, current) == pytest.approx(np.sum((r - c) * np.log(r / c)))
    assert stats.psi(reference, reference) == 0.0
    assert np.isfinite(stats.psi(np.array([10, 0, 5]), np.array([3, 7, 0])))


def test_wasserstein_from_quantiles_tracks_scipy(rng: np.random.Generator) -> None:
    levels = np.linspace(0, 1, 201)
    for shift, scale, size in ((0.0, 1.0, 5000), (0.4, 1.0, 2000), (0.0, 2.0, 20000), (1.5, 0.5, 300)):
        reference = rng.normal(size=50_000)
        current = np.sort(rng.normal(shift, scale, size=size))
        ours = stats.wasserstein_from_quantiles(np.quantile(reference, levels), levels, current)
        expected = scipy_stats.wasserstein_distance(reference, current)
        assert ours == pytest.approx(expected, abs=0.01)


def test_wasserstein_is_exact_for_a_piecewise_linear_reference() -> None:
    # Reference uniform on [0, 1] (its quantile function is exactly linear): W1 to a point mass at c is
    # the integral of |u - c|, i.e. (c² + (1 - c)²) / 2.
    levels = np.linspace(0, 1, 11)
    for point in (0.0, 0.3, 0.5, 2.0):
        current = np.full(7, point)
        expected = point - 0.5 if point >= 1 else (point**2 + (1 - point) ** 2) / 2
        assert stats.wasserstein_from_quantiles(levels, levels, current) == pytest.approx(expected)


def test_benjamini_hochberg_matches_scipy(rng: np.random.Generator) -> None:
    p_values = np.concatenate([rng.uniform(size=25), rng.uniform(0, 1e-3, size=5)])
    np.testing.assert_allclose(
        stats.benjamini_hochberg(p_values), scipy_stats.false_discovery_control(p_values)
    )
    assert stats.benjamini_hochberg([]).size == 0


def test_bin_counts_use_right_closed_bins() -> None:
    values = np.sort(np.array([0.0, 1.0, 1.0, 1.5, 2.0, 3.0, 9.0]))
    assert stats.bin_counts_sorted(values, np.array([1.0, 2.0])).tolist() == [3, 2, 2]


def test_sorted_quantiles_match_numpy(rng: np.random.Generator) -> None:
    values = np.sort(rng.exponential(size=1001))
    levels = np.linspace(0, 1, 37)
    np.testing.assert_allclose(stats.sorted_quantiles(values, levels), np.quantile(values, levels))


def test_wasserstein_discrete_matches_scipy_with_weights(rng: np.random.Generator) -> None:
    atoms = np.arange(8, dtype=float)
    weights = rng.integers(1, 1000, atoms.size).astype(float)
    for current in (rng.poisson(3, 500), rng.poisson(4, 3000) - 1.5, np.array([20.0, 20.0])):
        current = np.sort(current.astype(float))
        expected = scipy_stats.wasserstein_distance(atoms, current, u_weights=weights)
        assert stats.wasserstein_discrete(atoms, weights, current) == pytest.approx(expected, rel=1e-10)


def test_wasserstein_midpoint_rule_agrees_with_exact_integral(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = np.linspace(0, 1, 201)
    reference_quantiles = np.quantile(rng.lognormal(size=20_000), levels)
    current = np.sort(rng.lognormal(0.05, 1.1, size=stats.EXACT_WASSERSTEIN_ROWS + 1000))
    midpoint = stats.wasserstein_from_quantiles(reference_quantiles, levels, current)
    monkeypatch.setattr(stats, "EXACT_WASSERSTEIN_ROWS", current.size)
    exact = stats.wasserstein_from_quantiles(reference_quantiles, levels, current)
    assert midpoint == pytest.approx(exact, rel=1e-6)


def test_average_ranks_match_scipy_rankdata(rng: np.random.Generator) -> None:
    for size in (1, 2, 7, 500, 5000):
        values = np.round(rng.normal(0, 1, size), 1)  # many ties
        np.testing.assert_array_equal(stats.average_ranks(values), scipy_stats.rankdata(values))
    np.testing.assert_array_equal(stats.average_ranks(np.array([3.0, 3.0, 3.0])), [2.0, 2.0, 2.0])
    assert stats.average_ranks(np.array([], dtype=np.float64)).size == 0


def test_monitor_statistics_do_not_import_scipy_stats() -> None:
    """scipy.stats takes a second to import; the monitor's statistics use scipy.special (KS alone needs it)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from engine.monitoring import bands, cbpe, domain, performance, stats\n"
        "stats.chi_square([5, 6], [7, 2]); bands.tail_probability(4.0)\n"
        "performance.realized_performance(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]))\n"
        "print('scipy.stats' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
