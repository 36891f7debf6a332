"""The domain classifier sees joint changes that no single feature shows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from engine.config import MonitorConfig
from engine.monitoring.domain import _roc_auc, domain_classifier
from engine.monitoring.drift import drift_report
from engine.monitoring.profile import build_reference_profile
from engine.spec import TableSpec

SPEC = TableSpec(numeric=("x", "y", "noise"), categorical=("segment",))


def _correlated(rows: int, seed: int, correlation: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    return pl.DataFrame(
        {"x": x, "y": y, "noise": rng.normal(size=rows), "segment": rng.choice(["a", "b", "c"], rows)}
    )


@pytest.fixture(scope="module")
def reference_profile() -> dict:
    return build_reference_profile(_correlated(10_000, 1, 0.9), SPEC, seed=0)


def test_flipped_correlation_is_multivariate_drift_only(reference_profile: dict) -> None:
    report = drift_report(reference_profile, _correlated(3000, 2, -0.9), MonitorConfig())
    assert not any(feature.drifted for feature in report.features)
    assert report.multivariate["auc"] > 0.8 and report.multivariate["drifted"]
    top = [feature["name"] for feature in report.multivariate["top_features"][:2]]
    assert sorted(top) == ["x", "y"]


def test_same_distribution_stays_near_half(reference_profile: dict) -> None:
    result = domain_classifier(reference_profile, _correlated(3000, 3, 0.9), seed=0)
    assert abs(result["auc"] - 0.5) < 0.05 and not result["drifted"]
    assert result["rows_reference"] == result["rows_current"] == 2000


def test_too_few_rows_is_skipped(reference_profile: dict) -> None:
    assert domain_classifier(reference_profile, _correlated(20, 3, 0.9)) is None


def test_domain_classifier_is_seeded(reference_profile: dict) -> None:
    current = _correlated(1500, 4, 0.5)
    assert domain_classifier(reference_profile, current, seed=1) == domain_classifier(
        reference_profile, current, seed=1
    )


def test_rank_auc_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    predicted = np.round(rng.random(500) + 0.2 * labels, 1)  # rounding makes ties
    assert _roc_auc(labels, predicted) == pytest.approx(roc_auc_score(labels, predicted))
