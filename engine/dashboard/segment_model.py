"""What the segments screen shows: the segment mix over the newest builds and the newest cluster profiles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentMixRow:
    segment: str
    shares: tuple[float | None, ...]  # one per build, oldest first
    users: int
    change: float | None  # newest share minus the previous build's, in share points
    status: str  # the monitor's verdict on the newest share: ok, warning, skipped, or "" when never checked


@dataclass(frozen=True)
class ClusterRow:
    cluster: int
    users: int
    share: float
    description: str
    means: dict[str, float]


@dataclass(frozen=True)
class SegmentsView:
    as_of: tuple[str, ...]  # the builds' as-of moments, oldest first
    users: int  # customers in the newest build
    rows: tuple[SegmentMixRow, ...]
    clusters: tuple[ClusterRow, ...]
    mix_psi: float | None
    repurchase_rate: float | None


EMPTY_SEGMENTS = SegmentsView((), 0, (), (), None, None)
