"""Daily forecasting models in numpy/scipy: seasonal naive, additive Holt-Winters ETS, and the Theta method.

Each model follows scikit-learn's habits: `__init__` stores parameters, `fit(y)` returns self, and
`predict(horizon, level)` gives point forecasts with a normal prediction interval. The formulas are those of
Hyndman & Athanasopoulos, "Forecasting: principles and practice" (ETS state space form, section 8.7 variances)
and Hyndman & Billah (2003) for Theta as simple exponential smoothing with drift; tests/test_forecast_models.py
checks them against statsmodels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import optimize

SEASON = 7  # daily data, weekly cycle
# Interval widths come from the last 13 weeks of one-step errors: a shop's noise moves with its volume, and a
# launch spike a year ago should not widen next month's band (on CDNOW full-history sigmas covered 100%).
RECENT_DAYS = 91


@dataclass(frozen=True)
class Forecast:
    """Point forecasts and the interval at `level` (e.g. 0.95) for horizon steps 1..h."""

    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _band(value: np.ndarray, sigma_h: np.ndarray, level: float) -> Forecast:
    z = NormalDist().inv_cdf(0.5 + level / 2)  # scipy.stats would add a second of imports
    return Forecast(value=value, lower=value - z * sigma_h, upper=value + z * sigma_h)


class SeasonalNaive:
    """Each day is forecast as the same weekday a week before; intervals from the residuals y_t - y_{t-m}."""

    name = "seasonal_naive"

    def __init__(self, season: int = SEASON) -> None:
        self.season = season

    def fit(self, y: np.ndarray) -> SeasonalNaive:
        y = np.asarray(y, dtype=float)
        if y.size < self.season:
            raise ValueError(f"seasonal naive needs at least {self.season} days, got {y.size}")
        self.last_season_ = y[-self.season :].copy()
        residuals = (y[self.season :] - y[: -self.season])[-RECENT_DAYS:]
        self.sigma_ = float(np.sqrt(np.mean(residuals**2))) if residuals.size else 0.0
        return self

    def predict(self, horizon: int, level: float = 0.95) -> Forecast:
        steps = np.arange(horizon)
        value = self.last_season_[steps % self.season]
        # fpp3 table 5.2: sigma_h = sigma * sqrt(k + 1), k the number of whole seasons before step h.
        sigma_h = self.sigma_ * np.sqrt(steps // self.season + 1)
        return _band(value, sigma_h, level)


def ets_filter(
    y: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
    level0: float,
    trend0: float,
    seasonal0: np.ndarray,
    trend: bool,
    recent: int = 0,
) -> tuple[float, float, list[float], float, float]:
    """Run the ETS(A,Ad,A) / ETS(A,N,A) recursions; (level, trend, last m seasonals oldest first, SSE, and
    the mean squared error of the last `recent` steps).

    `seasonal0` holds s_{1-m} .. s_0 (oldest first). Plain Python floats: for a few hundred days this is faster
    than numpy's per-call overhead, and the optimizer calls it a few hundred times.
    """
    level, slope = float(level0), float(trend0) if trend else 0.0
    damp = float(phi) if trend else 0.0
    seasonal = [float(value) for value in seasonal0]
    m = len(seasonal)
    sse = 0.0
    index = 0
    tail_start = max(len(y) - recent, 0) if recent else len(y)
    sse_recent = 0.0
    for step, observed in enumerate(y.tolist()):
        base = level + damp * slope
        error = observed - base - seasonal[index]
        sse += error * error
        if step >= tail_start:
            sse_recent += error * error
        level = base + alpha * error
        slope = damp * slope + beta * error
        seasonal[index] += gamma * error
        index = index + 1 if index + 1 < m else 0
    ordered = seasonal[index:] + seasonal[:index]
    return level, slope, ordered, sse, sse_recent / max(len(y) - tail_start, 1)


def initial_states(y: np.ndarray, season: int = SEASON) -> tuple[float, float, np.ndarray]:
    """Level, trend and seasonal starting states from the first two seasons (a classical decomposition)."""
    first = y[:season]
    second = y[season : 2 * season] if y.size >= 2 * season else first
    level0 = float(first.mean())
    trend0 = float((second.mean() - first.mean()) / season)
    seasonal0 = first - level0
    return level0, trend0, seasonal0 - seasonal0.mean()


class HoltWintersETS:
    """Additive Holt-Winters in ETS state space form, ETS(A,N,A) or damped ETS(A,Ad,A).

    Smoothing parameters and the starting level (and trend) are fitted by least squares (scipy L-BFGS-B) within
    the usual admissible region (0 < beta < alpha, 0 < gamma < 1 - alpha, 0.8 <= phi <= 0.98); the seasonal
    start comes from the first two weeks. `auto` fits both and keeps the lower AICc, as AutoETS does.
    """

    def __init__(self, trend: str = "auto", season: int = SEASON) -> None:
        self.trend = trend
        self.season = season

    @property
    def name(self) -> str:
        return "ets"

    def _fit_one(self, y: np.ndarray, trend: bool) -> dict[str, object]:
        m = self.season
        level0, trend0, seasonal0 = initial_states(y, m)
        scale = float(np.std(y)) or 1.0

        def unpack(params: np.ndarray) -> tuple[float, float, float, float, float, float]:
            alpha = params[0]
            # beta and gamma as fractions of what the region allows, so simple bounds keep them admissible
            beta = params[1] * alpha if trend else 0.0
            gamma = params[2] * (1 - alpha)
            phi = params[3] if trend else 1.0
            return alpha, beta, gamma, phi, level0 + params[4] * scale, (trend0 + params[5] * scale / m)

        def loss(params: np.ndarray) -> float:
            alpha, beta, gamma, phi, l0, b0 = unpack(params)
            sse = ets_filter(y, alpha, beta, gamma, phi, l0, b0, seasonal0, trend)[3]
            return sse / (scale * scale * y.size)

        start = np.array([0.2, 0.1, 0.1, 0.95, 0.0, 0.0])
        bounds = [
            (1e-4, 0.9999),
            (1e-4, 0.9999) if trend else (0.0, 0.0),
            (1e-4, 0.9999),
            (0.8, 0.98) if trend else (1.0, 1.0),
            (-3.0, 3.0),
            (-3.0, 3.0) if trend else (0.0, 0.0),
        ]
        if not trend:
            start[1], start[3], start[5] = 0.0, 1.0, 0.0
        result = optimize.minimize(
            loss, start, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200, "ftol": 1e-7}
        )
        alpha, beta, gamma, phi, l0, b0 = unpack(result.x)
        level, slope, seasonal, sse, recent_mse = ets_filter(
            y, alpha, beta, gamma, phi, l0, b0, seasonal0, trend, RECENT_DAYS
        )
        n = y.size
        free = (4 if trend else 2) + 1 + (1 if trend else 0) + m  # smoothing, starting states, sigma
        sigma2 = sse / n
        log_likelihood = -0.5 * n * (math.log(2 * math.pi * max(sigma2, 1e-12)) + 1)
        aicc = -2 * log_likelihood + 2 * free + (2 * free * (free + 1) / max(n - free - 1, 1))
        return {
            "trend": trend,
            "alpha": alpha,
            "beta": beta,
            "gamma": gamma,
            "phi": phi,
            "level": level,
            "slope": slope,
            "seasonal": seasonal,
            "sigma2": recent_mse,
            "aicc": aicc,
        }

    def fit(self, y: np.ndarray) -> HoltWintersETS:
        y = np.asarray(y, dtype=float)
        if y.size < 2 * self.season + 2:
            raise ValueError(f"ETS needs at least {2 * self.season + 2} days, got {y.size}")
        options = {"auto": (False, True), "none": (False,), "damped": (True,)}[self.trend]
        fits = [self._fit_one(y, trend) for trend in options]
        self.params_ = min(fits, key=lambda fit: float(fit["aicc"]))  # type: ignore[arg-type]
        return self

    def predict(self, horizon: int, level: float = 0.95) -> Forecast:
        return ets_forecast(self.params_, horizon, level, self.season)


def ets_forecast(params: dict[str, object], horizon: int, level: float, season: int = SEASON) -> Forecast:
    """Forecasts and intervals of fitted ETS(A,Ad,A) states; variance from fpp3 table 8.8 (class 1 models)."""
    alpha, beta, gamma = float(params["alpha"]), float(params["beta"]), float(params["gamma"])  # type: ignore[arg-type]
    phi = float(params["phi"]) if params["trend"] else 0.0  # type: ignore[arg-type]
    seasonal = np.asarray(params["seasonal"], dtype=float)
    steps = np.arange(1, horizon + 1)
    damped_sum = np.cumsum(phi**steps)  # phi + phi^2 + ... + phi^h
    value = float(params["level"]) + damped_sum * float(params["slope"]) + seasonal[(steps - 1) % season]  # type: ignore[arg-type]
    # c_j = alpha + beta * (phi + ... + phi^j) + gamma * [j is a whole number of seasons]
    j = np.arange(1, horizon)
    c = alpha + beta * np.cumsum(phi**j) + gamma * (j % season == 0)
    variance = float(params["sigma2"]) * (1 + np.concatenate([[0.0], np.cumsum(c**2)]))  # type: ignore[arg-type]
    return _band(value, np.sqrt(variance), level)


def classical_seasonal(y: np.ndarray, season: int = SEASON) -> np.ndarray:
    """Additive seasonal indices (one per position in the cycle, summing to 0) from a centred moving average.

    Index k belongs to the days t with t % season == k (t counted from the series' first day).
    """
    if season % 2:
        trend = np.convolve(y, np.ones(season) / season, mode="valid")
        offset = season // 2
    else:
        weights = np.r_[0.5, np.ones(season - 1), 0.5] / season
        trend = np.convolve(y, weights, mode="valid")
        offset = season // 2
    detrended = y[offset : offset + trend.size] - trend
    positions = (np.arange(trend.size) + offset) % season
    indices = np.array([detrended[positions == k].mean() for k in range(season)])
    return indices - indices.mean()


def ses_filter(y: np.ndarray, alpha: float, level0: float, recent: int = 0) -> tuple[float, float, float]:
    """Simple exponential smoothing: (last level, SSE of one-step errors, mean squared error of the last
    `recent` steps)."""
    level, sse, sse_recent = float(level0), 0.0, 0.0
    tail_start = max(len(y) - recent, 0) if recent else len(y)
    for step, observed in enumerate(y.tolist()):
        error = observed - level
        sse += error * error
        if step >= tail_start:
            sse_recent += error * error
        level += alpha * error
    return level, sse, sse_recent / max(len(y) - tail_start, 1)


class Theta:
    """The Theta method (Assimakopoulos & Nikolopoulos 2000) as SES with drift (Hyndman & Billah 2003).

    The series is deseasonalised additively (classical decomposition), SES is fitted by least squares (alpha
    and the starting level), and the forecast adds half the slope of a linear trend fitted to the whole series,
    then the seasonal indices. Interval: the SES variance sigma^2 (1 + (h - 1) alpha^2), as statsmodels'
    ThetaModel gives it.
    """

    name = "theta"

    def __init__(self, season: int = SEASON) -> None:
        self.season = season

    def fit(self, y: np.ndarray) -> Theta:
        y = np.asarray(y, dtype=float)
        if y.size < 2 * self.season + 2:
            raise ValueError(f"Theta needs at least {2 * self.season + 2} days, got {y.size}")
        m = self.season
        indices = classical_seasonal(y, m)
        self.seasonal_ = indices
        adjusted = y - indices[np.arange(y.size) % m]
        scale = float(np.std(adjusted)) or 1.0

        def loss(params: np.ndarray) -> float:
            return ses_filter(adjusted, params[0], adjusted[0] + params[1] * scale)[1] / (scale**2 * y.size)

        result = optimize.minimize(
            loss,
            np.array([0.3, 0.0]),
            method="L-BFGS-B",
            bounds=[(1e-4, 0.9999), (-3.0, 3.0)],
        )
        self.alpha_ = float(result.x[0])
        self.level_, _, self.sigma2_ = ses_filter(
            adjusted, self.alpha_, adjusted[0] + result.x[1] * scale, RECENT_DAYS
        )
        self.slope_ = float(np.polyfit(np.arange(y.size, dtype=float), adjusted, 1)[0])
        self.n_ = y.size
        return self

    def predict(self, horizon: int, level: float = 0.95) -> Forecast:
        alpha, n = self.alpha_, self.n_
        steps = np.arange(1, horizon + 1)
        drift = 0.5 * self.slope_ * (steps - 1 + 1 / alpha - (1 - alpha) ** n / alpha)
        value = self.level_ + drift + self.seasonal_[(n + steps - 1) % self.season]
        sigma_h = np.sqrt(self.sigma2_ * (1 + (steps - 1) * alpha**2))
        return _band(value, sigma_h, level)


def combine(forecasts: list[Forecast]) -> Forecast:
    """The equal-weight mean of forecasts, bounds averaged too (an approximation: it ignores how the members'
    errors correlate, which for ETS and Theta on the same series is high)."""
    return Forecast(
        value=np.mean([item.value for item in forecasts], axis=0),
        lower=np.mean([item.lower for item in forecasts], axis=0),
        upper=np.mean([item.upper for item in forecasts], axis=0),
    )


class EtsThetaCombination:
    """The mean of ETS and Theta: forecast combinations beat their members on average (M3, M4)."""

    name = "ets_theta"

    def fit(self, y: np.ndarray) -> EtsThetaCombination:
        self.members_ = (HoltWintersETS().fit(y), Theta().fit(y))
        return self

    def predict(self, horizon: int, level: float = 0.95) -> Forecast:
        return combine([member.predict(horizon, level) for member in self.members_])


MODELS = ("seasonal_naive", "ets", "theta", "ets_theta")
COMBINATIONS = {"ets_theta": ("ets", "theta")}


def make_model(name: str) -> SeasonalNaive | HoltWintersETS | Theta | EtsThetaCombination:
    """A fresh, unfitted model by name."""
    if name == "seasonal_naive":
        return SeasonalNaive()
    if name == "ets":
        return HoltWintersETS()
    if name == "theta":
        return Theta()
    if name == "ets_theta":
        return EtsThetaCombination()
    raise ValueError(f"unknown forecasting model {name!r}; known: {', '.join(MODELS)}")
