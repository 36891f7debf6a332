"""BG/NBD and Gamma-Gamma (models/btyd.py): the published CDNOW parameters when the summary file is present,
the likelihoods against direct integration, recovery of known parameters from seeded simulations, and the
paper's worked predictions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from models.btyd import BetaGeoFitter, GammaGammaFitter, bgnbd_log_likelihood, gamma_gamma_log_likelihood

# Fader, Hardie & Lee (2005) on the 2,357-customer CDNOW sample; Gamma-Gamma as fitted on the same customers
PUBLISHED_BGNBD = (0.243, 4.414, 0.793, 2.426)
PUBLISHED_GG = (6.249, 3.745, 15.448)


def _summary_file() -> Path | None:
    """cdnow_customers_summary_with_transactions.csv (ID,x,t_x,T,zbar; ships in the `lifetimes` sdist beside
    CDNOW_master.txt): $SHOPCTL_CDNOW_SUMMARY, or next to $SHOPCTL_CDNOW."""
    named = os.environ.get("SHOPCTL_CDNOW_SUMMARY")
    candidates = [Path(named)] if named else []
    if os.environ.get("SHOPCTL_CDNOW"):
        candidates.append(
            Path(os.environ["SHOPCTL_CDNOW"]).with_name("cdnow_customers_summary_with_transactions.csv")
        )
    return next((path for path in candidates if path.is_file()), None)


@pytest.mark.skipif(_summary_file() is None, reason="CDNOW summary not found (set SHOPCTL_CDNOW_SUMMARY)")
def test_published_cdnow_parameters() -> None:
    import polars as pl

    path = _summary_file()
    assert path is not None
    summary = pl.read_csv(path)
    bgnbd = BetaGeoFitter().fit(summary["x"], summary["t_x"], summary["T"])
    assert np.allclose(bgnbd.params_, PUBLISHED_BGNBD, rtol=2e-3)
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    gamma_gamma = GammaGammaFitter().fit(summary["x"], summary["zbar"])
    assert np.allclose(gamma_gamma.params_, PUBLISHED_GG, rtol=2e-3)


def _with_params(params: tuple[float, ...], cls: type) -> object:
    model = cls()
    model.params_ = params
    return model


def test_worked_example_of_the_paper() -> None:
    """FHL 2005 section 5: a customer with x=2, t_x=30.43, T=38.86 weeks expects 1.226 orders in 39 weeks."""
    model = _with_params(PUBLISHED_BGNBD, BetaGeoFitter)
    assert isinstance(model, BetaGeoFitter)
    assert model.expected_orders(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=2e-3)
    alive = model.probability_alive([0, 2, 2], [0, 30.43, 5.0], [38.86] * 3)
    assert alive[0] == 1.0 and 0 < alive[2] < alive[1] < 1  # an early last order: less likely alive
    assert model.expected_orders_new(39) == pytest.approx(model.expected_orders(39, [0], [0], [0])[0])


def test_bgnbd_likelihood_against_integration() -> None:
    """The closed form equals the integral over the customer's rate λ and drop-out probability p."""
    r, alpha, a, b = 0.8, 5.0, 1.2, 3.0
    x, t_x, big_t = 3, 20.0, 30.0

    def joint(lam: float, p: float) -> float:
        alive_to_t = (1 - p) ** x * lam**x * np.exp(-lam * big_t)
        died_after_last = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x)
        density = stats.gamma.pdf(lam, r, scale=1 / alpha) * stats.beta.pdf(p, a, b)
        return (alive_to_t + died_after_last) * density

    value, _ = integrate.dblquad(joint, 0, 1, 0, 3, epsabs=1e-12, epsrel=1e-7)
    assert bgnbd_log_likelihood((r, alpha, a, b), [x], [t_x], [big_t])[0] == pytest.approx(
        np.log(value), rel=1e-5
    )


def test_gamma_gamma_likelihood_against_integration() -> None:
    p, q, gamma = 4.0, 3.0, 20.0
    x, m_x = 3, 12.5

    def mean_density(nu: float) -> float:
        """The density of the mean of x Gamma(p, nu) orders, times nu's Gamma(q, gamma) density."""
        return float(
            stats.gamma.pdf(m_x, p * x, scale=1 / (nu * x)) * stats.gamma.pdf(nu, q, scale=1 / gamma)
        )

    value, _ = integrate.quad(mean_density, 0, np.inf)
    assert gamma_gamma_log_likelihood((p, q, gamma), [x], [m_x])[0] == pytest.approx(np.log(value), rel=1e-7)


def _simulate_bgnbd(params: tuple[float, float, float, float], customers: int, horizon: float, seed: int):
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1 / alpha, customers)
    drops = rng.beta(a, b, customers)
    x = np.zeros(customers)
    t_x = np.zeros(customers)
    for i in range(customers):
        moment = 0.0
        while True:
            moment += rng.exponential(1 / rates[i])
            if moment > horizon:
                break
            x[i] += 1
            t_x[i] = moment
            if rng.random() < drops[i]:
                break
    return x, t_x, np.full(customers, horizon)


def test_recovers_simulated_parameters() -> None:
    truth = (0.5, 6.0, 0.9, 3.0)
    x, t_x, big_t = _simulate_bgnbd(truth, 4000, 52.0, seed=3)
    fitted = BetaGeoFitter().fit(x, t_x, big_t)
    assert fitted.log_likelihood_ >= bgnbd_log_likelihood(truth, x, t_x, big_t).sum()
    assert np.allclose(fitted.params_, truth, rtol=0.25)


def test_gamma_gamma_recovers_and_shrinks() -> None:
    rng = np.random.default_rng(5)
    p, q, gamma = 5.0, 4.0, 30.0
    counts = rng.integers(1, 8, 3000)
    scales = rng.gamma(q, 1 / gamma, 3000)
    means = np.array([rng.gamma(p, 1 / nu, n).mean() for n, nu in zip(counts, scales, strict=True)])
    fitted = GammaGammaFitter().fit(counts, means)
    assert np.allclose(fitted.params_, (p, q, gamma), rtol=0.25)
    expected = fitted.expected_order_value([0, 1, 50], [0.0, 100.0, 100.0])
    population = fitted.params_[0] * fitted.params_[2] / (fitted.params_[1] - 1)
    assert expected[0] == pytest.approx(population)
    assert population < expected[1] < expected[2] < 100.0  # more orders, nearer the customer's own mean


def test_fitters_refuse_empty_input() -> None:
    with pytest.raises(ValueError):
        BetaGeoFitter().fit([], [], [])
    with pytest.raises(ValueError):
        GammaGammaFitter().fit([0, 0], [0.0, 0.0])
