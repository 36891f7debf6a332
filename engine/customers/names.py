"""The named RFM segments and the grid that assigns them (no polars: the dashboard imports this)."""

from __future__ import annotations

# The R × F grid of the widely used RFM segment map (R rows 5..1; columns FM = 1..5), with F replaced by FM,
# the mean of the F and M scores rounded half up, and the bottom corner (R 1, FM 1) named Lost.
SEGMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Cannot lose"),
    1: ("Lost", "Hibernating", "At risk", "At risk", "Cannot lose"),
}
SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Cannot lose",
    "Hibernating",
    "Lost",
)
