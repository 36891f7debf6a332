"""Segment mix monitoring: the newest segment build's shares against the build before it, as metric rows.

Rows (check_name `segments`):
- `segment_share`, scope `segment:rfm=<name>`: the segment's share of customers in the newest build;
  `lower`/`upper` is its band around the previous build's share, half-width the largest of BAND_POINTS,
  BAND_RELATIVE × the previous share and BAND_SIGMAS binomial standard errors (small shops move by chance);
  status `warning` outside the band. `detail_json` has the baseline share, both as-of moments and counts.
- `segment_mix_psi`, scope `overall`: PSI of the whole mix (engine.monitoring.stats.psi) with the two-sample
  chi-square statistic and p-value in `detail_json`; status `warning` when PSI ≥ PSI_WARNING.
With a single build every row is `skipped`; with no build there are no rows at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.monitoring import stats
from engine.store.db import Store
from engine.store.segments import recent_builds

CHECK = "segments"
BAND_POINTS = 0.02
BAND_RELATIVE = 0.25
BAND_SIGMAS = 3.0
PSI_WARNING = 0.2


def _row(metric: str, scope: str, value: float | None, **fields: Any) -> dict[str, Any]:
    return {
        "check_name": CHECK,
        "metric": metric,
        "scope": scope,
        "model": "",
        "value": None if value is None else float(value),
        "kind": "realized",
        "lower": None if fields.get("lower") is None else float(fields["lower"]),
        "upper": None if fields.get("upper") is None else float(fields["upper"]),
        "threshold": fields.get("threshold"),
        "status": fields.get("status", "ok"),
        "detail": fields.get("detail", {}),
    }


def band(previous_share: float, current_users: int) -> tuple[float, float]:
    """The share a segment may hold in the next build without a warning."""
    noise = BAND_SIGMAS * math.sqrt(max(previous_share * (1 - previous_share), 0.0) / max(current_users, 1))
    half = max(BAND_POINTS, BAND_RELATIVE * previous_share, noise)
    return max(previous_share - half, 0.0), min(previous_share + half, 1.0)


def segment_mix_rows(store: Store) -> list[dict[str, Any]]:
    """The metric rows comparing the two newest segment builds (see the module docstring)."""
    builds = recent_builds(store, limit=2)
    if not builds:
        return []
    current = builds[-1]
    counts_now: dict[str, int] = current["summary"].get("segments", {})
    if len(builds) < 2:
        reason = "one segment build so far; the mix is compared from the second build on"
        rows = [
            _row(
                "segment_share",
                f"segment:rfm={name}",
                count / max(current["users"], 1),
                status="skipped",
                detail={"reason": reason, "as_of": current["as_of"]},
            )
            for name, count in sorted(counts_now.items())
        ]
        return rows + [_row("segment_mix_psi", "overall", None, status="skipped", detail={"reason": reason})]
    previous = builds[0]
    counts_before: dict[str, int] = previous["summary"].get("segments", {})
    names = sorted(set(counts_now) | set(counts_before))
    now = np.array([counts_now.get(name, 0) for name in names], dtype=float)
    before = np.array([counts_before.get(name, 0) for name in names], dtype=float)
    users_now, users_before = int(now.sum()), int(before.sum())
    rows = []
    for name, count_now, count_before in zip(names, now, before, strict=True):
        share_before = count_before / max(users_before, 1)
        share_now = count_now / max(users_now, 1)
        lower, upper = band(share_before, users_now)
        rows.append(
            _row(
                "segment_share",
                f"segment:rfm={name}",
                share_now,
                lower=lower,
                upper=upper,
                status="ok" if lower <= share_now <= upper else "warning",
                detail={
                    "baseline": float(share_before),
                    "users": int(count_now),
                    "baseline_users": int(count_before),
                    "as_of": current["as_of"],
                    "baseline_as_of": previous["as_of"],
                },
            )
        )
    mix_psi = stats.psi(before, now)
    statistic, p_value = stats.chi_square(before, now)
    rows.append(
        _row(
            "segment_mix_psi",
            "overall",
            mix_psi,
            threshold=PSI_WARNING,
            status="warning" if mix_psi >= PSI_WARNING else "ok",
            detail={
                "method": "psi",
                "chi_square": statistic,
                "p_value": p_value,
                "users": users_now,
                "baseline_users": users_before,
                "as_of": current["as_of"],
                "baseline_as_of": previous["as_of"],
            },
        )
    )
    return rows
