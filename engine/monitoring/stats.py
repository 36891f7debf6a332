"""Two-sample drift statistics over binned counts, sorted samples and stored quantiles (numpy, no pandas).

Every function here works on what a reference profile keeps (bin counts, quantiles, a row sample), so drift is
never recomputed from raw training data; tests check each one against scipy on random data.
"""

from __future__ import annotations

import numpy as np
from scipy import special

# A zero share in a bin makes PSI infinite; Evidently replaces it by 0.0001 (or a millionth of the smallest
# non-zero share when that is smaller), and we do the same so the two agree on the same bins.
_PSI_FLOOR = 1e-4
# Above this many current values, Wasserstein from quantiles uses the midpoint rule (fewer passes over memory).
EXACT_WASSERSTEIN_ROWS = 65_536


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def _fill_zero_shares(shares: np.ndarray) -> np.ndarray:
    shares = shares.copy()
    nonzero = shares[shares > 0]
    if nonzero.size == 0:
        return shares
    smallest = nonzero.min()
    shares[shares == 0] = smallest / 1e6 if smallest <= _PSI_FLOOR else _PSI_FLOOR
    return shares


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index between two histograms on the same bins (zero shares floored as Evidently)."""
    reference = _fill_zero_shares(_shares(reference_counts))
    current = _fill_zero_shares(_shares(current_counts))
    return float(np.sum((reference - current) * np.log(reference / current)))


def jensenshannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy.spatial.distance.jensenshannon) between two histograms."""
    reference = _shares(reference_counts)
    current = _shares(current_counts)
    middle = (reference + current) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(reference > 0, reference * np.log(reference / middle), 0.0)
        right = np.where(current > 0, current * np.log(current / middle), 0.0)
    divergence = (left.sum() + right.sum()) / 2.0
    return float(np.sqrt(max(divergence, 0.0)))


def chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample chi-square test of homogeneity on a 2×k contingency table (no continuity correction).

    Unlike a goodness-of-fit test against reference shares, both samples carry sampling error, so large current
    windows are not flagged for differences the reference itself cannot resolve.
    """
    table = np.vstack([np.asarray(reference_counts, float), np.asarray(current_counts, float)])
    table = table[:, table.sum(axis=0) > 0]
    row_totals = table.sum(axis=1, keepdims=True)
    if table.shape[1] < 2 or np.any(row_totals == 0):
        return 0.0, 1.0
    expected = row_totals * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, float(special.chdtrc(dof, statistic))


def ks_test(reference_values: np.ndarray, current_values: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (scipy's exact method for small samples)."""
    reference_values = np.asarray(reference_values, dtype=np.float64)
    current_values = np.asarray(current_values, dtype=np.float64)
    if reference_values.size == 0 or current_values.size == 0:
        return 0.0, 1.0
    # scipy's exact path costs O(n·m); past ten million cells the asymptotic distribution is as good.
    method = "auto" if reference_values.size * current_values.size <= 10_000_000 else "asymp"
    from scipy import stats as scipy_stats  # a second to import: only when a KS test is asked for

    result = scipy_stats.ks_2samp(reference_values, current_values, method=method)
    return float(result.statistic), float(result.pvalue)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of finite values, ties given the mean of their positions (scipy's rankdata 'average')."""
    values = np.asarray(values).ravel()
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    # Each run of equal values spans sorted positions [start, end); its members all get (start + 1 + end) / 2.
    bounds = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat((bounds[:-1] + 1 + bounds[1:]) / 2.0, np.diff(bounds))
    return ranks


def sorted_quantiles(sorted_values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of already sorted values at the given levels (numpy's default linear interpolation)."""
    count = sorted_values.size
    positions = np.asarray(levels, dtype=np.float64) * (count - 1)
    lower = np.floor(positions).astype(np.int64)
    upper = np.minimum(lower + 1, count - 1)
    fraction = positions - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


def bin_counts_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of sorted values in right-closed bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    cumulative = np.searchsorted(sorted_values, np.asarray(edges, dtype=np.float64), side="right")
    return np.diff(np.concatenate([[0], cumulative, [sorted_values.size]])).astype(np.int64)


def wasserstein_from_quantiles(
    reference_quantiles: np.ndarray, levels: np.ndarray, current_sorted: np.ndarray
) -> float:
    """Wasserstein-1 distance between a reference quantile function and the empirical current distribution.

    W1 is the area between the two quantile functions. The reference one is piecewise linear through its
    stored quantiles, the current one a step function, so the integral is exact on the union of break points.
    """
    count = current_sorted.size
    if count == 0:
        return 0.0
    levels = np.asarray(levels, dtype=np.float64)
    reference_quantiles = np.asarray(reference_quantiles, dtype=np.float64)
    if count > EXACT_WASSERSTEIN_ROWS:
        # The midpoint rule on each 1/n step is exact where the two functions do not cross inside the step;
        # the few crossings and level knots add O(1/n²) each, far below the reference's own quantile error.
        midpoints = (np.arange(count, dtype=np.float64) + 0.5) / count
        return float(np.abs(np.interp(midpoints, levels, reference_quantiles) - current_sorted).mean())
    steps = np.arange(count + 1, dtype=np.float64) / count
    # Merge the reference levels into the current steps in O(n) (both are sorted); a level equal to a step
    # only adds an interval of zero width.
    insert_at = np.searchsorted(steps, levels)
    breaks = np.insert(steps, insert_at, levels)
    is_step = np.insert(np.ones(count + 1, dtype=np.int64), insert_at, 0)
    step_index = np.clip(np.cumsum(is_step)[:-1] - 1, 0, count - 1)
    current_level = current_sorted[step_index]
    reference_level = np.interp(breaks, levels, reference_quantiles)
    gap_start = reference_level[:-1] - current_level
    gap_end = reference_level[1:] - current_level
    starts, ends = breaks[:-1], breaks[1:]
    width = ends - starts
    same_sign = gap_start * gap_end >= 0
    magnitude = np.abs(gap_start) + np.abs(gap_end)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(magnitude > 0, (gap_start**2 + gap_end**2) / (2 * magnitude), 0.0)
    area = np.where(same_sign, magnitude / 2.0, crossing) * width
    return float(area.sum())


def wasserstein_discrete(atoms: np.ndarray, weights: np.ndarray, current_sorted: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between a discrete reference (values with counts) and a sorted sample.

    Used for reference columns with few distinct values (counts, flags), whose quantile function is a step
    function that linear interpolation between quantiles would smear.
    """
    count = current_sorted.size
    atoms = np.asarray(atoms, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if count == 0 or atoms.size == 0 or weights.sum() <= 0:
        return 0.0
    insert_at = np.searchsorted(current_sorted, atoms)
    grid = np.insert(current_sorted, insert_at, atoms)
    reference_cdf = np.cumsum(np.insert(np.zeros(count), insert_at, weights / weights.sum()))
    current_cdf = np.cumsum(np.insert(np.full(count, 1.0 / count), insert_at, 0.0))
    return float(np.sum(np.abs(reference_cdf - current_cdf)[:-1] * np.diff(grid)))


def benjamini_hochberg(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), as scipy.stats.false_discovery_control."""
    p_values = np.asarray(p_values, dtype=np.float64)
    count = p_values.size
    if count == 0:
        return p_values
    order = np.argsort(p_values)
    scaled = p_values[order] * count / np.arange(1, count + 1)
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(count)
    adjusted[order] = np.clip(adjusted_sorted, 0.0, 1.0)
    return adjusted
