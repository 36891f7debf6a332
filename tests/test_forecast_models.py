"""Forecasting models against statsmodels 0.15.0 reference values (frozen here with the call that made them)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.forecast.backtest import backtest
from engine.forecast.models import HoltWintersETS, SeasonalNaive, Theta, ets_filter, ets_forecast

T = np.arange(70.0)
# A deterministic series (no RNG, so the references never depend on a generator's version).
Y = 100 + 0.3 * T + 10 * np.sin(2 * np.pi * T / 7) + 6 * np.cos(1.7 * T) + 3 * np.sin(0.45 * T**1.3)
SEASONAL0 = np.array([0.0, 8, 10, 4, -4, -10, -8]) - np.mean([0.0, 8, 10, 4, -4, -10, -8])

# ys = pd.Series(Y, index=pd.date_range("2024-01-01", periods=70, freq="D"))
# ETSModel(ys, error="add", trend=None, seasonal="add", seasonal_periods=7, initialization_method="known",
#          initial_level=100.0, initial_seasonal=SEASONAL0).smooth([0.3, 0.1])
#     .get_prediction(start=70, end=83).summary_frame(alpha=0.05)  -> mean, pi_lower (first 5)
ETS_ANA_MEAN = [119.122188, 124.944022, 128.656665, 124.435652, 113.82285]
ETS_ANA_LOWER = [108.52681, 113.882122, 117.147138, 112.495268, 101.466622]
# The same with trend="add", damped_trend=True, initial_trend=0.2, smooth([0.3, 0.05, 0.1, 0.9])
ETS_AADA_MEAN = [119.520831, 125.233124, 128.949333, 124.708049, 113.987642]
ETS_AADA_LOWER = [108.750369, 113.839701, 116.822945, 111.758043, 100.142344]
# ThetaModel(ys, period=7, deseasonalize=True, method="additive", use_test=False).fit().forecast(14)[:7]
# (params b0 = 0.2865956, alpha = 0.1806064)
THETA_MEAN = [119.910531, 126.622531, 129.646046, 125.481395, 115.303516, 109.08668, 112.839426]


@pytest.mark.parametrize(
    ("trend", "params", "mean", "lower"),
    [
        (False, (0.3, 0.0, 0.1, 1.0), ETS_ANA_MEAN, ETS_ANA_LOWER),
        (True, (0.3, 0.05, 0.1, 0.9), ETS_AADA_MEAN, ETS_AADA_LOWER),
    ],
)
def test_ets_recursions_and_intervals_match_statsmodels(trend, params, mean, lower) -> None:  # noqa: ANN001
    alpha, beta, gamma, phi = params
    level, slope, seasonal, sse, _ = ets_filter(Y, alpha, beta, gamma, phi, 100.0, 0.2, SEASONAL0, trend)
    fitted = {
        "trend": trend,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "phi": phi,
        "level": level,
        "slope": slope,
        "seasonal": seasonal,
        "sigma2": sse / Y.size,  # statsmodels' mse
    }
    forecast = ets_forecast(fitted, 14, 0.95)
    np.testing.assert_allclose(forecast.value[:5], mean, atol=1e-5)
    np.testing.assert_allclose(forecast.lower[:5], lower, atol=1e-5)


def test_theta_point_forecasts_match_statsmodels() -> None:
    model = Theta().fit(Y)
    # Our SES fits alpha by least squares with an estimated start (0.1775 here, statsmodels 0.1806): the
    # forecasts agree to 2e-3; the drift (the OLS slope / 2) is the same to 12 digits.
    assert model.slope_ == pytest.approx(0.28659561621824137, rel=1e-9)
    np.testing.assert_allclose(model.predict(14).value[:7], THETA_MEAN, atol=5e-3)
    forecast = model.predict(14)
    widths = forecast.upper - forecast.value
    assert np.all(np.diff(widths) > 0)  # sigma^2 (1 + (h - 1) alpha^2) grows with the horizon


def test_seasonal_naive_repeats_last_week_and_widens_each_week() -> None:
    y = np.array([1.0, 2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7, 8])
    forecast = SeasonalNaive().fit(y).predict(15, 0.95)
    np.testing.assert_array_equal(forecast.value, [2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5, 6, 7, 8, 2])
    # every residual y_t - y_{t-7} is 1, so sigma = 1 and sigma_h = sqrt(k + 1)
    half = forecast.upper - forecast.value
    np.testing.assert_allclose(half[[0, 7, 14]], 1.959964 * np.sqrt([1, 2, 3]), atol=1e-5)


def test_ets_fit_recovers_a_weekly_pattern_better_than_seasonal_naive() -> None:
    rng = np.random.default_rng(3)
    days = np.arange(196)
    truth = 50 + 15 * np.sin(2 * np.pi * days / 7)
    y = truth + rng.normal(0, 4, days.size)
    result = backtest(y, 28, 4)
    assert result.windows == 4
    naive = result.models["seasonal_naive"]["mae"]
    assert result.models["ets"]["mae"] < 0.85 * naive
    assert result.models["theta"]["mae"] < 0.85 * naive
    assert result.chosen in ("ets", "theta", "ets_theta")
    assert result.models["ets_theta"]["mae"] < naive
    assert result.models["seasonal_naive"]["relative_mae"] == 1.0
    fitted = HoltWintersETS().fit(y)
    assert 0 < fitted.params_["alpha"] < 0.5  # noise, not signal: a small level gain


def test_short_series_fall_back_to_seasonal_naive_with_a_reason() -> None:
    result = backtest(np.arange(60.0), 28, 4)
    assert result.windows == 0 and result.chosen == "seasonal_naive"
    assert "seasonal naive is used" in (result.reason or "")
    rows = result.to_rows("total")
    assert rows[0]["chosen"] and rows[0]["reason"]
    # two windows fit in 28 + 2 x 28 days: the backtest shrinks instead of giving up
    assert backtest(np.sin(np.arange(84.0)) + 5, 28, 4).windows == 2
