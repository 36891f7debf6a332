"""Buy-till-you-die models for lifetime value: BG/NBD (how many more orders, and is the customer still alive)
and Gamma-Gamma (what an order is worth), fitted by maximum likelihood.

No maintained library installs cleanly here (`lifetimes` is unmaintained, pymc-marketing pulls PyMC), so these
are the closed forms of Fader, Hardie & Lee, "Counting your customers the easy way" (2005) and Fader & Hardie,
"The Gamma-Gamma model of monetary value" (2013), fitted with scipy.optimize on log-parameters (all four, resp.
three, parameters are positive). Inputs per customer, in one time unit (days or weeks, the caller's choice):
`frequency` x = repeat orders (orders - 1), `recency` t_x = time from first to last order, `age` T = time from
first order to the end of calibration; `monetary` = mean value of the repeat orders (Gamma-Gamma uses x > 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, special


def _as_arrays(*columns: Any) -> list[np.ndarray]:
    return [np.asarray(column, dtype=np.float64) for column in columns]


def bgnbd_log_likelihood(params: Sequence[float], frequency: Any, recency: Any, age: Any) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under BG/NBD with params (r, alpha, a, b); FHL 2005 eq. (6)."""
    r, alpha, a, b = params
    x, t_x, big_t = _as_arrays(frequency, recency, age)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    # log(a) - log(b + x - 1) - (r + x) log(alpha + t_x), only where x > 0 (elsewhere the term is absent)
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def _fit(negative_log_likelihood: Any, start: np.ndarray) -> np.ndarray:
    result = optimize.minimize(
        negative_log_likelihood,
        np.log(start),
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000},
    )
    polished = optimize.minimize(negative_log_likelihood, result.x, method="L-BFGS-B")
    best = polished.x if polished.fun <= result.fun else result.x
    return np.exp(best)


class BetaGeoFitter:
    """BG/NBD: Poisson orders while alive (rate ~ Gamma(r, alpha)), after each order the customer dies with
    probability p ~ Beta(a, b). `fit(frequency, recency, age)` learns `params_` = (r, alpha, a, b)."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: Any, recency: Any, age: Any) -> BetaGeoFitter:
        x, t_x, big_t = _as_arrays(frequency, recency, age)
        if x.size == 0:
            raise ValueError("BG/NBD needs at least one customer")
        scale = max(float(big_t.mean()), 1e-9)

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            value = -float(bgnbd_log_likelihood(list(params), x, t_x, big_t).mean())
            return value + self.penalizer * float(np.sum(params**2))

        self.params_ = tuple(float(p) for p in _fit(objective, np.array([1.0, scale, 1.0, 1.0])))
        self.log_likelihood_ = float(bgnbd_log_likelihood(self.params_, x, t_x, big_t).sum())
        return self

    def probability_alive(self, frequency: Any, recency: Any, age: Any) -> np.ndarray:
        """P(still alive at T | x, t_x, T); 1 for a customer with no repeat order (BG/NBD's convention)."""
        r, alpha, a, b = self.params_
        x, t_x, big_t = _as_arrays(frequency, recency, age)
        log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * np.exp(log_ratio), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_orders(self, horizon: float, frequency: Any, recency: Any, age: Any) -> np.ndarray:
        """E[orders in (T, T + horizon] | x, t_x, T]; FHL 2005 eq. (10)."""
        r, alpha, a, b = self.params_
        x, t_x, big_t = _as_arrays(frequency, recency, age)
        z = horizon / (alpha + big_t + horizon)
        hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1)
        second = 1.0 - np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon))) * hyper
        log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        denominator = 1.0 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * np.exp(log_ratio), 0.0)
        return np.maximum(first * second / denominator, 0.0)

    def expected_orders_new(self, horizon: float) -> float:
        """E[orders in (0, horizon]] of a customer just acquired; FHL 2005 eq. (7)."""
        r, alpha, a, b = self.params_
        z = horizon / (alpha + horizon)
        hyper = special.hyp2f1(r, b, a + b - 1, z)
        return float((a + b - 1) / (a - 1) * (1.0 - (alpha / (alpha + horizon)) ** r * hyper))


def gamma_gamma_log_likelihood(params: Sequence[float], frequency: Any, monetary: Any) -> np.ndarray:
    """Per-customer log-likelihood of the mean order value m_x over x orders under Gamma-Gamma (p, q, gamma)."""
    p, q, gamma = params
    x, m_x = _as_arrays(frequency, monetary)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m_x)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + x * m_x)
    )


class GammaGammaFitter:
    """Gamma-Gamma: order values ~ Gamma(p, nu) per customer, nu ~ Gamma(q, gamma) across customers.
    `fit(frequency, monetary)` uses the customers with frequency > 0 and positive monetary value."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: Any, monetary: Any) -> GammaGammaFitter:
        x, m_x = _as_arrays(frequency, monetary)
        keep = (x > 0) & (m_x > 0)
        if int(keep.sum()) < 2:
            raise ValueError("Gamma-Gamma needs at least two customers with a repeat order of positive value")
        x, m_x = x[keep], m_x[keep]
        scale = max(float(m_x.mean()), 1e-9)

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            value = -float(gamma_gamma_log_likelihood(list(params), x, m_x).mean())
            return value + self.penalizer * float(np.sum(params**2))

        self.params_ = tuple(float(v) for v in _fit(objective, np.array([1.0, 2.0, scale])))
        self.log_likelihood_ = float(gamma_gamma_log_likelihood(self.params_, x, m_x).sum())
        return self

    def expected_order_value(self, frequency: Any, monetary: Any) -> np.ndarray:
        """E[value of a future order | x, m_x]: a weighted mean of the population mean p·gamma/(q-1) and the
        customer's own mean; the population mean for customers with no repeat order."""
        p, q, gamma = self.params_
        x, m_x = _as_arrays(frequency, monetary)
        population = p * gamma / (q - 1) if q > 1 else float("nan")
        own = np.where(x > 0, m_x, 0.0)
        conditional = p * (gamma + x * own) / (p * x + q - 1)
        return np.where(x > 0, conditional, population)
