"""Always-valid confidence sequences: intervals that stay valid however often the experiment is looked at.

The asymptotic normal-mixture confidence sequence of Howard, Ramdas, McAuliffe & Sekhon (2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", eq. 14), in the form GrowthBook's gbstats uses: with N units
so far, σ² = N · Var(estimate) and ρ tuned so the sequence is tightest near N* units,

    half-width = σ · sqrt( 2(Nρ² + 1) / (N²ρ²) · log( sqrt(Nρ² + 1) / α ) ),
    ρ = sqrt( (-2 log α + log(-2 log α + 1)) / N* ).
"""

from __future__ import annotations

import math

import numpy as np

# GrowthBook's default tuning (sequentialTestingTuningParameter): tightest around 5,000 units in all.
DEFAULT_TUNING = 5000.0


def mixture_rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture's spread ρ that makes the sequence tightest at `tuning` units."""
    log_alpha = -2 * math.log(alpha)
    return math.sqrt((log_alpha + math.log(log_alpha + 1)) / tuning)


def half_width(
    standard_error: np.ndarray | float,
    units: np.ndarray | float,
    alpha: float,
    tuning: float = DEFAULT_TUNING,
) -> np.ndarray | float:
    """Half-width of the always-valid interval for an estimate with this standard error from `units` units
    (vectorised: arrays of looks in, arrays out)."""
    rho = mixture_rho(alpha, tuning)
    units = np.asarray(units, dtype=float)
    sigma = np.asarray(standard_error, dtype=float) * np.sqrt(units)
    scale = units * rho**2 + 1
    width = sigma * np.sqrt(2 * scale / (units**2 * rho**2) * np.log(np.sqrt(scale) / alpha))
    return float(width) if width.ndim == 0 else width
