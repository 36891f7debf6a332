"""Reference and current distribution of one feature side by side, as bars with their shares written out."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console.tui.format import bar, num
from engine.dashboard import FeatureDrift

BAR_WIDTH = 12


class DistributionCompare(Static):
    """Per bin: label, reference bar and share, current bar and share, and the change in points."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id, classes=classes)
        self._feature: FeatureDrift | None = None

    def show_feature(self, feature: FeatureDrift | None) -> None:
        if feature == self._feature and feature is not None:
            return
        self._feature = feature
        if feature is None:
            self.border_title = "Distribution"
            self.update("Select a feature to compare its reference and current distribution.")
            return
        verdict = "DRIFT" if feature.drifted else "SKIP" if feature.status == "skipped" else "OK"
        self.border_title = f"{feature.feature}: reference vs current · {verdict}"
        histogram = feature.histogram
        if not histogram.labels:
            self.update(
                f"{feature.method} statistic {num(feature.statistic)} (threshold {num(feature.threshold)}); "
                "this check stored no histograms."
            )
            return
        scale = max(max(histogram.reference, default=0), max(histogram.current, default=0)) or 1.0
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("bin", no_wrap=True, overflow="ellipsis", ratio=1)
        table.add_column("reference", no_wrap=True)
        table.add_column("current", no_wrap=True)
        table.add_column("change", no_wrap=True, justify="right")
        table.add_row(
            Text("bin", style="bold"),
            Text("reference", style="bold"),
            Text("current", style="bold"),
            Text("Δ pts", style="bold"),
        )
        for label, ref, cur in zip(histogram.labels, histogram.reference, histogram.current, strict=True):
            change = (cur - ref) * 100
            table.add_row(
                label,
                Text(f"{bar(ref / scale, BAR_WIDTH)} {ref * 100:4.1f}%", style="dim"),
                Text(f"{bar(cur / scale, BAR_WIDTH)} {cur * 100:4.1f}%"),
                f"{'+' if change >= 0 else '-'}{abs(change):.1f}",
            )
        self.update(Group(Text(f"SKIP: {feature.note}"), table) if feature.note else table)
