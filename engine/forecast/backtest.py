"""Rolling-origin backtest: each candidate forecasts the last `windows` blocks of `horizon` days from the data
before each block; the lowest mean absolute error wins. MASE scales each window's MAE by the in-sample MAE
of the weekly seasonal naive forecast on that window's training data (Hyndman & Koehler 2006)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.forecast.models import COMBINATIONS, MODELS, SEASON, Forecast, combine, make_model

MIN_TRAIN_DAYS = 28  # four weeks before the first origin: two to start the seasonal states, two to learn
MIN_WINDOWS = 2
MIN_DAYS = SEASON  # below one week there is no seasonal naive forecast


@dataclass
class BacktestResult:
    """Per model: MAE, MASE, coverage of its interval; the chosen model and, for a fallback, the reason."""

    windows: int
    horizon: int
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    chosen: str = "seasonal_naive"
    reason: str | None = None
    window_mae: dict[str, list[float]] = field(default_factory=dict)

    def to_rows(self, series: str) -> list[dict[str, Any]]:
        """One row per model (the `backtest` list of `shopctl forecast --json`)."""
        rows = []
        for name, figures in self.models.items():
            rows.append(
                {
                    "series": series,
                    "model": name,
                    "windows": self.windows,
                    "horizon": self.horizon,
                    **figures,
                    "window_mae": self.window_mae.get(name, []),
                    "chosen": name == self.chosen,
                }
            )
        if not rows:
            rows.append(
                {
                    "series": series,
                    "model": self.chosen,
                    "windows": 0,
                    "horizon": self.horizon,
                    "mae": None,
                    "mase": None,
                    "relative_mae": None,
                    "coverage": None,
                    "window_mae": [],
                    "chosen": True,
                    "reason": self.reason,
                }
            )
        return rows


def _scale(train: np.ndarray) -> float:
    diffs = np.abs(train[SEASON:] - train[:-SEASON])
    return float(diffs.mean()) if diffs.size else float("nan")


def backtest(
    y: np.ndarray, horizon: int, windows: int = 4, level: float = 0.95, models: tuple[str, ...] = MODELS
) -> BacktestResult:
    """Backtest every model on y; fewer windows when the series is short, seasonal naive below two."""
    n = y.size
    usable = min(windows, (n - MIN_TRAIN_DAYS) // horizon) if n > MIN_TRAIN_DAYS else 0
    if usable < MIN_WINDOWS:
        need = MIN_TRAIN_DAYS + MIN_WINDOWS * horizon
        return BacktestResult(
            windows=0,
            horizon=horizon,
            reason=(
                f"{n} days of history; the backtest needs {need} ({MIN_WINDOWS} windows of {horizon} days after "
                f"{MIN_TRAIN_DAYS} days of training), so seasonal naive is used"
            ),
        )
    result = BacktestResult(windows=usable, horizon=horizon)
    errors: dict[str, list[np.ndarray]] = {name: [] for name in models}
    scaled: dict[str, list[float]] = {name: [] for name in models}
    covered: dict[str, list[np.ndarray]] = {name: [] for name in models}
    failed: dict[str, str] = {}
    for back in range(usable, 0, -1):
        origin = n - back * horizon
        train, actual = y[:origin], y[origin : origin + horizon]
        scale = _scale(train)
        forecasts: dict[str, Forecast] = {}
        for name in models:
            if name in failed:
                continue
            members = COMBINATIONS.get(name)
            try:
                if members is None:
                    forecast = make_model(name).fit(train).predict(horizon, level)
                elif all(member in forecasts for member in members):
                    # a combination of models already fitted on this window: no second fit
                    forecast = combine([forecasts[member] for member in members])
                else:
                    raise ValueError(f"a member of {name} could not be fitted")
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as error:
                failed[name] = str(error)
                continue
            forecasts[name] = forecast
            value = np.maximum(forecast.value, 0.0)
            error_abs = np.abs(actual - value)
            errors[name].append(error_abs)
            scaled[name].append(float(error_abs.mean() / scale) if scale > 0 else float("nan"))
            covered[name].append((actual >= forecast.lower) & (actual <= forecast.upper))
    for name in models:
        if name in failed or not errors[name]:
            continue
        mae = float(np.concatenate(errors[name]).mean())
        result.models[name] = {
            "mae": mae,
            "mase": float(np.mean(scaled[name])),
            "coverage": float(np.concatenate(covered[name]).mean()),
        }
        result.window_mae[name] = [float(part.mean()) for part in errors[name]]
    naive_mae = result.models.get("seasonal_naive", {}).get("mae")
    for figures in result.models.values():
        figures["relative_mae"] = figures["mae"] / naive_mae if naive_mae else float("nan")
    if result.models:
        result.chosen = min(result.models, key=lambda name: result.models[name]["mae"])
    return result
