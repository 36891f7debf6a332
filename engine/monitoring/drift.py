"""Per-feature, score and multivariate drift of a current window against a model's reference profile.

The default method depends on the column type and the smaller sample size (Evidently's rule, with a two-sample
chi-square): tests (KS, chi-square) up to 1,000 rows, distances (normalised Wasserstein, Jensen-Shannon) above,
where any test would flag differences too small to matter. p-values are adjusted across features with
Benjamini-Hochberg before they are compared with the threshold. See docs/drift.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.config import MonitorConfig
from engine.errors import ConfigError, InputError
from engine.monitoring import stats
from engine.monitoring.domain import domain_classifier
from engine.monitoring.profile import sorted_finite_columns

DEFAULT_THRESHOLDS = {"psi": 0.1, "ks": 0.05, "chisquare": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1}
P_VALUE_METHODS = frozenset({"ks", "chisquare"})
METHODS_FOR_KIND = {
    "numeric": frozenset({"psi", "ks", "wasserstein", "jensenshannon"}),
    "categorical": frozenset({"psi", "chisquare", "jensenshannon"}),
}
SMALL_SAMPLE = 1000
HISTOGRAM_CATEGORIES = 20
OTHER_LABEL = "other"
# Severity is capped so a p-value of 0 still gives finite JSON.
_SMALLEST_P = 1e-300


@dataclass
class FeatureDrift:
    """The drift verdict for one feature (or the score), with histograms on the reference's bins."""

    name: str
    kind: str
    method: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    threshold: float | None
    drifted: bool
    severity: float
    reference_rows: int
    current_rows: int
    reference_null_rate: float
    current_null_rate: float
    histogram: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    """Drift of every feature (sorted by severity), the drifted share, score drift and the domain classifier."""

    features: list[FeatureDrift]
    share: float
    drifted: bool
    share_threshold: float
    rows: int
    score_drift: FeatureDrift | None
    multivariate: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [feature.to_dict() for feature in self.features],
            "share": self.share,
            "drifted": self.drifted,
            "share_threshold": self.share_threshold,
            "rows": self.rows,
            "drifted_features": [feature.name for feature in self.features if feature.drifted],
            "score_drift": self.score_drift.to_dict() if self.score_drift else None,
            "multivariate": self.multivariate,
        }


def default_method(kind: str, reference_rows: int, current_rows: int) -> str:
    """Tests for small samples (the smaller side ≤ 1,000 rows), distances for large ones."""
    small = min(reference_rows, current_rows) <= SMALL_SAMPLE
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


def choose_method(
    name: str, kind: str, reference_rows: int, current_rows: int, config: MonitorConfig
) -> tuple[str, float]:
    """The method and threshold for one feature: its override, else the configured method, else the default."""
    override = config.drift_overrides.get(name)
    method: str | None = override.method if override and override.method else None
    if method and method not in METHODS_FOR_KIND[kind]:
        raise ConfigError(
            f"config.toml [monitor] drift_overrides.{name}.method: {method!r} does not apply to a {kind} feature; "
            f"use one of {', '.join(sorted(METHODS_FOR_KIND[kind]))}"
        )
    if method is None and config.drift_method != "auto" and config.drift_method in METHODS_FOR_KIND[kind]:
        method = config.drift_method
    if method is None:
        method = default_method(kind, reference_rows, current_rows)
    threshold = (
        override.threshold if override and override.threshold is not None else DEFAULT_THRESHOLDS[method]
    )
    if threshold <= 0 or (method in P_VALUE_METHODS and threshold >= 1):
        raise ConfigError(
            f"config.toml [monitor] drift_overrides.{name}.threshold: {threshold} is out of range for {method} "
            "(a p-value level must lie in (0, 1), a distance threshold above 0)"
        )
    return method, threshold


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * counts.size


def _bin_labels(edges: np.ndarray, discrete: bool) -> list[str]:
    """Readable names of the right-closed bins around the edges: "≤ a", "a–b", ..., "> z" (or the values)."""
    names = [f"{edge:.4g}" for edge in edges.tolist()]
    if not names:
        return ["all"]
    if discrete:
        return [f"≤ {names[0]}", *names[1:], f"> {names[-1]}"]
    inner = [f"{low}–{high}" for low, high in zip(names[:-1], names[1:], strict=True)]
    return [f"≤ {names[0]}", *inner, f"> {names[-1]}"]


def _numeric_statistic(
    method: str,
    feature: dict[str, Any],
    levels: list[float],
    sample: list[Any],
    current_sorted: np.ndarray,
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
) -> tuple[float, float | None]:
    if method == "psi":
        return stats.psi(reference_counts, current_counts), None
    if method == "jensenshannon":
        return stats.jensenshannon(reference_counts, current_counts), None
    if method == "wasserstein":
        spread = feature["std"] if feature["std"] > 0 else 1.0
        if feature.get("discrete"):
            atoms = np.asarray(feature["bin_edges"], dtype=np.float64)
            return stats.wasserstein_discrete(
                atoms, reference_counts[: atoms.size], current_sorted
            ) / spread, None
        return stats.wasserstein_from_quantiles(
            feature["quantiles"], np.asarray(levels), current_sorted
        ) / spread, None
    reference_values = np.array([value for value in sample if value is not None], dtype=np.float64)
    return stats.ks_test(reference_values, current_sorted)


def _numeric_drift(
    name: str,
    feature: dict[str, Any],
    profile: dict[str, Any],
    sample: list[Any],
    current_sorted: np.ndarray,
    current_total: int,
    config: MonitorConfig,
) -> FeatureDrift:
    edges = np.asarray(feature["bin_edges"], dtype=np.float64)
    reference_counts = np.asarray(feature["bin_counts"], dtype=np.int64)
    current_counts = stats.bin_counts_sorted(current_sorted, edges)
    histogram = {
        "edges": edges.tolist(),
        "labels": _bin_labels(edges, bool(feature.get("discrete"))),
        "reference": _shares(reference_counts),
        "current": _shares(current_counts),
    }
    return _verdict(
        name,
        "numeric",
        feature,
        current_sorted.size,
        current_total,
        histogram,
        config,
        lambda method: _numeric_statistic(
            method,
            feature,
            profile["quantile_levels"],
            sample,
            current_sorted,
            reference_counts,
            current_counts,
        ),
    )


EXPAND_ROWS = 1_000_000  # runs up to this many values are expanded to the sorted array the local path uses


def numeric_drift_from_runs(
    name: str,
    feature: dict[str, Any],
    profile: dict[str, Any],
    sample: list[Any],
    values: np.ndarray,
    counts: np.ndarray,
    current_total: int,
    config: MonitorConfig,
) -> FeatureDrift:
    """One numeric feature's drift from the current window's distinct finite values (sorted) and their counts.

    Up to EXPAND_ROWS values the runs are expanded into the sorted array `drift_report` builds, so the result is
    the local one bit for bit. Beyond that, the statistics are computed from the runs themselves in bounded
    memory: bin counts, PSI and Jensen-Shannon exactly; Wasserstein and KS equal up to float summation order.
    """
    values = np.asarray(values, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total <= EXPAND_ROWS:
        current_sorted = np.repeat(values, counts)
        return _numeric_drift(name, feature, profile, sample, current_sorted, current_total, config)
    edges = np.asarray(feature["bin_edges"], dtype=np.float64)
    reference_counts = np.asarray(feature["bin_counts"], dtype=np.int64)
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    below = cumulative[np.searchsorted(values, edges, side="right")]
    current_counts = np.diff(np.concatenate([[0], below, [total]])).astype(np.int64)
    histogram = {
        "edges": edges.tolist(),
        "labels": _bin_labels(edges, bool(feature.get("discrete"))),
        "reference": _shares(reference_counts),
        "current": _shares(current_counts),
    }

    def compute(method: str) -> tuple[float, float | None]:
        if method == "psi":
            return stats.psi(reference_counts, current_counts), None
        if method == "jensenshannon":
            return stats.jensenshannon(reference_counts, current_counts), None
        if method == "wasserstein":
            spread = feature["std"] if feature["std"] > 0 else 1.0
            if feature.get("discrete"):
                atoms = np.asarray(feature["bin_edges"], dtype=np.float64)
                return _wasserstein_discrete_runs(
                    atoms, reference_counts[: atoms.size], values, counts
                ) / spread, None
            return _wasserstein_quantiles_runs(
                np.asarray(feature["quantiles"]), np.asarray(profile["quantile_levels"]), values, counts
            ) / spread, None
        reference = np.sort(np.array([value for value in sample if value is not None], dtype=np.float64))
        return _ks_runs(reference, values, counts)

    return _verdict(name, "numeric", feature, total, current_total, histogram, config, compute)


def _wasserstein_discrete_runs(
    atoms: np.ndarray, weights: np.ndarray, values: np.ndarray, counts: np.ndarray
) -> float:
    """stats.wasserstein_discrete on a sample given as runs: the area between the two CDFs."""
    weights = np.asarray(weights, dtype=np.float64)
    total = counts.sum()
    if total == 0 or atoms.size == 0 or weights.sum() <= 0:
        return 0.0
    grid = np.union1d(atoms, values)
    reference_cdf = np.cumsum(weights / weights.sum())[np.searchsorted(atoms, grid, side="right") - 1]
    reference_cdf = np.where(np.searchsorted(atoms, grid, side="right") > 0, reference_cdf, 0.0)
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    current_cdf = cumulative[np.searchsorted(values, grid, side="right")] / total
    return float(np.sum(np.abs(reference_cdf - current_cdf)[:-1] * np.diff(grid)))


def _wasserstein_quantiles_runs(
    quantiles: np.ndarray, levels: np.ndarray, values: np.ndarray, counts: np.ndarray, block: int = 1 << 20
) -> float:
    """stats.wasserstein_from_quantiles' midpoint rule (more than EXACT_WASSERSTEIN_ROWS values) over runs,
    a block of ranks at a time so memory stays bounded."""
    total = int(counts.sum())
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    area = 0.0
    for start in range(0, total, block):
        ranks = np.arange(start, min(start + block, total), dtype=np.int64)
        current = values[np.searchsorted(cumulative, ranks, side="right") - 1]
        midpoints = (ranks.astype(np.float64) + 0.5) / total
        area += float(np.abs(np.interp(midpoints, levels, quantiles) - current).sum())
    return area / total


def _ks_runs(reference: np.ndarray, values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """scipy's two-sample KS (asymptotic, as ks_test uses past 10 M cells) on a current sample given as runs."""
    from scipy.stats import distributions

    total = int(counts.sum())
    if reference.size == 0 or total == 0:
        return 0.0, 1.0
    grid = np.concatenate([reference, values])
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    reference_cdf = np.searchsorted(reference, grid, side="right") / reference.size
    current_cdf = cumulative[np.searchsorted(values, grid, side="right")] / total
    statistic = float(np.max(np.abs(reference_cdf - current_cdf)))
    larger, smaller = sorted([float(reference.size), float(total)], reverse=True)
    p_value = float(
        np.clip(distributions.kstwo.sf(statistic, np.round(larger * smaller / (larger + smaller))), 0, 1)
    )
    return statistic, p_value


def _categorical_drift(
    name: str, feature: dict[str, Any], current: pl.Series, config: MonitorConfig
) -> FeatureDrift:
    values = current.cast(pl.String).drop_nulls().value_counts(name="n")
    found = dict(
        zip(values.get_column(values.columns[0]).to_list(), values.get_column("n").to_list(), strict=True)
    )
    return categorical_drift_from_counts(name, feature, found, current.len(), config)


def categorical_drift_from_counts(
    name: str, feature: dict[str, Any], found: dict[str, int], current_total: int, config: MonitorConfig
) -> FeatureDrift:
    """One categorical feature's drift from the current window's value counts (nulls left out) and row count:
    all the statistic needs, so a distributed engine can hand in counts it aggregated (engine/spark)."""
    categories = feature["categories"]
    found = dict(found)
    current_counts = np.array(
        [found.pop(category, 0) for category in categories] + [sum(found.values())], np.int64
    )
    reference_counts = np.asarray(feature["category_counts"] + [feature["other_count"]], dtype=np.int64)
    shown = min(HISTOGRAM_CATEGORIES, len(categories))

    def fold(counts: np.ndarray) -> np.ndarray:
        return np.concatenate([counts[:shown], [counts[shown:].sum()]])

    histogram = {
        "categories": categories[:shown] + [OTHER_LABEL],
        "reference": _shares(fold(reference_counts)),
        "current": _shares(fold(current_counts)),
    }

    def compute(method: str) -> tuple[float, float | None]:
        if method == "psi":
            return stats.psi(reference_counts, current_counts), None
        if method == "jensenshannon":
            return stats.jensenshannon(reference_counts, current_counts), None
        return stats.chi_square(reference_counts, current_counts)

    return _verdict(
        name, "categorical", feature, int(current_counts.sum()), current_total, histogram, config, compute
    )


def _verdict(
    name: str,
    kind: str,
    feature: dict[str, Any],
    current_rows: int,
    current_total: int,
    histogram: dict[str, Any],
    config: MonitorConfig,
    compute: Callable[[str], tuple[float, float | None]],
) -> FeatureDrift:
    """Pick the method, compute the statistic and judge it (p-value methods are judged after BH adjustment)."""
    current_null_rate = 1.0 - current_rows / current_total if current_total else 0.0
    reference_rows = int(feature.get("count", 0))
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "reference_rows": reference_rows,
        "current_rows": int(current_rows),
        "reference_null_rate": float(feature["null_rate"]),
        "current_null_rate": current_null_rate,
        "histogram": histogram,
    }
    if reference_rows == 0 or current_rows == 0:
        return FeatureDrift(
            method=None,
            statistic=None,
            p_value=None,
            p_adjusted=None,
            threshold=None,
            drifted=False,
            severity=0.0,
            **common,
        )
    method, threshold = choose_method(name, kind, reference_rows, current_rows, config)
    statistic, p_value = compute(method)
    drifted = p_value < threshold if p_value is not None else statistic >= threshold
    return FeatureDrift(
        method=method,
        statistic=float(statistic),
        p_value=p_value,
        p_adjusted=p_value,
        threshold=threshold,
        drifted=bool(drifted),
        severity=_severity(statistic, p_value, threshold),
        **common,
    )


def _severity(statistic: float, p_value: float | None, threshold: float) -> float:
    """How far past its threshold a result is, on one scale for every method: ≥ 1 means drifted."""
    if p_value is None:
        return float(statistic / threshold)
    return float(np.log(max(p_value, _SMALLEST_P)) / np.log(threshold))


def _adjust_p_values(results: list[FeatureDrift]) -> None:
    # A p-value method always has a statistic and a threshold; only the p-values are adjusted.
    tested = [
        (result, result.p_value, result.statistic, result.threshold)
        for result in results
        if result.p_value is not None and result.statistic is not None and result.threshold is not None
    ]
    adjusted = stats.benjamini_hochberg([p_value for _, p_value, _, _ in tested])
    for (result, _, statistic, threshold), p_adjusted in zip(tested, adjusted.tolist(), strict=True):
        result.p_adjusted = p_adjusted
        result.drifted = p_adjusted < threshold
        result.severity = _severity(statistic, p_adjusted, threshold)


def drift_report(
    profile: dict[str, Any],
    current: pl.DataFrame,
    monitor_config: MonitorConfig,
    scores: np.ndarray | None = None,
) -> DriftReport:
    """Compare a current window (and its scores) with the reference profile, feature by feature and jointly."""
    features = profile["features"]
    missing = [name for name in features if name not in current.columns]
    if missing:
        raise InputError(
            f"current data lacks feature column(s) {', '.join(missing)} that the model's profile has"
        )
    numeric_names = [name for name, feature in features.items() if feature["kind"] == "numeric"]
    current_sorted = sorted_finite_columns(current, numeric_names)
    sample = profile["sample"]["columns"]
    results = []
    for name, feature in features.items():
        if feature["kind"] == "numeric":
            results.append(
                _numeric_drift(
                    name, feature, profile, sample[name], current_sorted[name], current.height, monitor_config
                )
            )
        else:
            results.append(_categorical_drift(name, feature, current.get_column(name), monitor_config))
    return assemble_report(
        results,
        current.height,
        monitor_config,
        score_drift(profile, scores, monitor_config),
        domain_classifier(profile, current, seed=int(profile.get("seed", 0))),
    )


def assemble_report(
    results: list[FeatureDrift],
    rows: int,
    monitor_config: MonitorConfig,
    score: FeatureDrift | None,
    multivariate: Any,
) -> DriftReport:
    """The report from per-feature results: p-values adjusted together, sorted by severity, the drifted share."""
    _adjust_p_values(results)
    results.sort(key=lambda result: (-result.severity, result.name))
    judged = [result for result in results if result.method is not None]
    share = sum(result.drifted for result in judged) / len(judged) if judged else 0.0
    return DriftReport(
        features=results,
        share=share,
        drifted=bool(judged) and share >= monitor_config.drift_share,
        share_threshold=monitor_config.drift_share,
        rows=rows,
        score_drift=score,
        multivariate=multivariate,
    )


def score_drift(
    profile: dict[str, Any], scores: np.ndarray | None, config: MonitorConfig
) -> FeatureDrift | None:
    """Drift of the model's scores against the reference score distribution, judged like a numeric feature."""
    score_profile = profile.get("score")
    if scores is None or not score_profile:
        return None
    values = np.asarray(scores, dtype=np.float64).ravel()
    finite = np.sort(values[np.isfinite(values)])
    return _numeric_drift(
        "score", score_profile, profile, score_profile["sample"], finite, values.size, config
    )
