"""An interval drawn as text: a bar from lower to upper around the estimate, with zero marked.

-10%        0        +40%
·····|····[════●════]·····
"""

from __future__ import annotations

import math


def interval_scale(intervals: list[tuple[float, float, float]], pad: float = 0.1) -> tuple[float, float]:
    """A common axis for several (lower, estimate, upper) triples that always includes zero."""
    values = [value for triple in intervals for value in triple if math.isfinite(value)] + [0.0]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return low - pad * span, high + pad * span


def interval_bar(
    lower: float, estimate: float, upper: float, axis: tuple[float, float], width: int = 30
) -> str:
    """`width` characters: '[' and ']' at the interval's ends, '●' at the estimate, '═' between, '|' at zero."""
    low, high = axis
    cells = ["·"] * width

    def at(value: float) -> int:
        return min(width - 1, max(0, round((value - low) / (high - low) * (width - 1))))

    if not all(math.isfinite(value) for value in (lower, estimate, upper)):
        return "?".center(width, "·")
    start, stop = at(lower), at(upper)
    for index in range(start, stop + 1):
        cells[index] = "═"
    zero = at(0.0)
    cells[zero] = "|" if not start <= zero <= stop else "┼"
    cells[start], cells[stop] = "[", "]"
    cells[at(estimate)] = "●"
    return "".join(cells)
