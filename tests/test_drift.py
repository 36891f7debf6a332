"""Drift against a reference profile: methods, thresholds, multiple testing, score and multivariate drift."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats as scipy_stats

from engine.config import MonitorConfig, parse_settings
from engine.errors import ConfigError, InputError
from engine.monitoring import stats
from engine.monitoring.drift import default_method, drift_report
from engine.monitoring.profile import build_reference_profile
from engine.spec import TableSpec

SPEC = TableSpec(numeric=("price", "items", "visits"), categorical=("channel", "country"))


def _window(
    rows: int, seed: int, *, price_shift: float = 0.0, channel_weights=(0.5, 0.3, 0.2)
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "price": rng.lognormal(3 + price_shift, 0.5, rows),
            "items": rng.normal(5, 2, rows),
            "visits": rng.poisson(3, rows).astype(float),
            "channel": rng.choice(["web", "app", "email"], rows, p=list(channel_weights)),
            "country": rng.choice([f"c{i}" for i in range(40)], rows),
        }
    )


@pytest.fixture(scope="module")
def reference_profile() -> dict:
    frame = _window(20_000, 1)
    scores = np.random.default_rng(2).beta(2, 5, frame.height)
    return build_reference_profile(frame, SPEC, scores, seed=0)


def _config(**monitor) -> MonitorConfig:
    return parse_settings({"monitor": monitor}).monitor


def _by_name(report) -> dict:
    return {feature.name: feature for feature in report.features}


def test_stable_window_does_not_drift(reference_profile: dict) -> None:
    report = drift_report(reference_profile, _window(5000, 9), MonitorConfig())
    assert report.share == 0.0 and not report.drifted
    assert report.multivariate is not None and report.multivariate["auc"] < 0.55
    assert {feature.method for feature in report.features} == {"wasserstein", "jensenshannon"}


def test_shifted_features_drift_and_sort_first(reference_profile: dict) -> None:
    current = _window(5000, 9, price_shift=0.4, channel_weights=(0.2, 0.3, 0.5))
    report = drift_report(reference_profile, current, MonitorConfig())
    assert [feature.name for feature in report.features[:2]] == ["price", "channel"]
    assert [feature.drifted for feature in report.features] == [True, True, False, False, False]
    severities = [feature.severity for feature in report.features]
    assert severities == sorted(severities, reverse=True)
    assert report.share == pytest.approx(0.4) and not report.drifted
    assert drift_report(reference_profile, current, _config(drift_share=0.4)).drifted
    assert report.multivariate["drifted"]
    assert report.multivariate["top_features"][0]["name"] in {"price", "channel"}


def test_default_method_depends_on_type_and_smaller_sample() -> None:
    assert default_method("numeric", 20_000, 1000) == "ks"
    assert default_method("numeric", 20_000, 1001) == "wasserstein"
    assert default_method("categorical", 800, 50_000) == "chisquare"
    assert default_method("categorical", 5000, 5000) == "jensenshannon"


def test_small_window_uses_tests_with_benjamini_hochberg(reference_profile: dict) -> None:
    current = _window(400, 5, price_shift=0.3)
    report = drift_report(reference_profile, current, MonitorConfig())
    features = _by_name(report)
    assert {feature.method for feature in report.features} == {"ks", "chisquare"}
    raw = [features[name].p_value for name in sorted(features)]
    adjusted = scipy_stats.false_discovery_control(raw)
    assert [features[name].p_adjusted for name in sorted(features)] == pytest.approx(adjusted.tolist())
    assert features["price"].drifted and features["price"].p_adjusted < 0.05
    reference_sample = [v for v in reference_profile["sample"]["columns"]["price"] if v is not None]
    expected = scipy_stats.ks_2samp(reference_sample, current.get_column("price").to_numpy())
    assert features["price"].statistic == pytest.approx(expected.statistic)
    assert features["price"].p_value == pytest.approx(expected.pvalue)


def test_statistics_recompute_from_histograms(reference_profile: dict) -> None:
    current = _window(3000, 4, price_shift=0.1)
    report = drift_report(reference_profile, current, _config(drift_method="psi"))
    price = _by_name(report)["price"]
    edges = np.array(price.histogram["edges"])
    current_counts = stats.bin_counts_sorted(np.sort(current.get_column("price").to_numpy()), edges)
    reference_counts = np.array(reference_profile["features"]["price"]["bin_counts"])
    assert price.method == "psi" and price.threshold == 0.1
    assert price.statistic == pytest.approx(stats.psi(reference_counts, current_counts))
    assert price.histogram["current"] == pytest.approx((current_counts / current_counts.sum()).tolist())
    assert len(price.histogram["reference"]) == len(price.histogram["current"]) == edges.size + 1


def test_wasserstein_is_normalised_by_reference_spread(reference_profile: dict) -> None:
    current = _window(3000, 4, price_shift=0.2)
    items = _by_name(drift_report(reference_profile, current, MonitorConfig()))["price"]
    reference = _window(20_000, 1).get_column("price").to_numpy()
    expected = (
        scipy_stats.wasserstein_distance(reference, current.get_column("price").to_numpy()) / reference.std()
    )
    assert items.method == "wasserstein"
    assert items.statistic == pytest.approx(expected, abs=0.005)


def test_overrides_pick_method_and_threshold(reference_profile: dict) -> None:
    config = _config(
        drift_method="jensenshannon",
        drift_overrides={"price": {"method": "psi", "threshold": 5.0}, "channel": {"threshold": 0.001}},
    )
    features = _by_name(drift_report(reference_profile, _window(3000, 4, price_shift=0.4), config))
    assert (features["price"].method, features["price"].threshold, features["price"].drifted) == (
        "psi",
        5.0,
        False,
    )
    assert (features["channel"].method, features["channel"].threshold) == ("jensenshannon", 0.001)
    assert features["items"].method == "jensenshannon"


def test_global_method_that_does_not_fit_a_type_falls_back_to_the_default(reference_profile: dict) -> None:
    features = _by_name(drift_report(reference_profile, _window(3000, 4), _config(drift_method="ks")))
    assert features["price"].method == "ks" and features["channel"].method == "jensenshannon"


def test_override_method_must_fit_the_feature_type(reference_profile: dict) -> None:
    config = _config(drift_overrides={"channel": {"method": "ks"}})
    with pytest.raises(ConfigError, match="drift_overrides.channel.method"):
        drift_report(reference_profile, _window(3000, 4), config)
    with pytest.raises(ConfigError, match="drift_overrides.price.threshold"):
        drift_report(
            reference_profile, _window(300, 4), _config(drift_overrides={"price": {"threshold": 2.0}})
        )


def test_new_categories_count_as_other_and_drift(reference_profile: dict) -> None:
    current = _window(3000, 4).with_columns(pl.lit("partner").alias("channel"))
    channel = _by_name(drift_report(reference_profile, current, MonitorConfig()))["channel"]
    assert channel.histogram["categories"][-1] == "other"
    assert channel.histogram["current"][-1] == 1.0 and channel.drifted


def test_nulls_are_reported_and_excluded(reference_profile: dict) -> None:
    current = _window(3000, 4).with_columns(pl.lit(None, dtype=pl.Float64).alias("items"))
    items = _by_name(drift_report(reference_profile, current, MonitorConfig()))["items"]
    assert items.current_null_rate == 1.0 and items.method is None and not items.drifted


def test_score_drift_and_json(reference_profile: dict) -> None:
    current = _window(3000, 4)
    shifted_scores = np.random.default_rng(3).beta(4, 3, current.height)
    report = drift_report(reference_profile, current, MonitorConfig(), scores=shifted_scores)
    assert report.score_drift.name == "score" and report.score_drift.drifted
    assert drift_report(reference_profile, current, MonitorConfig()).score_drift is None
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["score_drift"]["method"] == "wasserstein"
    assert set(payload["features"][0]) >= {
        "name",
        "kind",
        "method",
        "statistic",
        "p_value",
        "threshold",
        "drifted",
        "severity",
        "histogram",
    }


def test_missing_feature_column_is_an_input_error(reference_profile: dict) -> None:
    with pytest.raises(InputError, match="price"):
        drift_report(reference_profile, _window(100, 4).drop("price"), MonitorConfig())


def test_discrete_feature_wasserstein_is_exact(reference_profile: dict) -> None:
    current = _window(3000, 4).with_columns((pl.col("visits") + 1).alias("visits"))
    visits = _by_name(drift_report(reference_profile, current, MonitorConfig()))["visits"]
    reference = _window(20_000, 1).get_column("visits").to_numpy()
    expected = (
        scipy_stats.wasserstein_distance(reference, current.get_column("visits").to_numpy()) / reference.std()
    )
    assert visits.method == "wasserstein" and visits.drifted
    assert visits.statistic == pytest.approx(expected, rel=1e-9)


def test_text_in_a_numeric_column_is_an_input_error(reference_profile: dict) -> None:
    current = _window(100, 4).with_columns(pl.col("price").cast(pl.String))
    with pytest.raises(InputError, match="'price' holds String"):
        drift_report(reference_profile, current, MonitorConfig())


def test_numeric_histograms_have_one_label_per_bin(reference_profile: dict) -> None:
    features = _by_name(drift_report(reference_profile, _window(2000, 4), MonitorConfig()))
    price, visits = features["price"].histogram, features["visits"].histogram
    assert len(price["labels"]) == len(price["reference"]) and price["labels"][0].startswith("≤ ")
    assert price["labels"][-1].startswith("> ")
    distinct = reference_profile["features"]["visits"]["bin_edges"]
    assert visits["labels"][1 : len(distinct)] == [f"{value:.4g}" for value in distinct[1:]]
    assert visits["labels"][0] == f"≤ {distinct[0]:.4g}" and len(visits["labels"]) == len(distinct) + 1
