"""Reference and current histograms from a drift row's detail_json, whichever shape its writer chose."""

from __future__ import annotations

from typing import Any

from engine.dashboard.model import (
    Histogram,
)


def _edge(value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def _bin_label(low: Any, high: Any) -> str:
    """Right-closed bins, as the drift check counts them: "≤ 11", "11..24" (above 11, up to 24), "> 171"."""
    if low == float("-inf"):
        return f"≤ {_edge(high)}"
    if high == float("inf"):
        return f"> {_edge(low)}"
    return f"{_edge(low)}..{_edge(high)}"


def _bins(histogram: Any) -> tuple[list[str], list[float]]:
    """Labels and weights of one histogram, whichever of the shapes a writer chose."""
    if isinstance(histogram, list):
        return [f"bin {i + 1}" for i in range(len(histogram))], [float(v or 0) for v in histogram]
    if not isinstance(histogram, dict):
        return [], []
    weights = next(
        (
            histogram[key]
            for key in ("fractions", "shares", "frequencies", "counts", "values")
            if key in histogram
        ),
        None,
    )
    if isinstance(weights, dict):
        return [str(k) for k in weights], [float(v or 0) for v in weights.values()]
    if isinstance(weights, list):
        edges = histogram.get("edges")
        labels = histogram.get("labels", histogram.get("bins", histogram.get("categories")))
        if isinstance(edges, list) and len(edges) == len(weights) - 1:  # inner cut points only
            edges = [float("-inf"), *edges, float("inf")]
        if isinstance(edges, list) and len(edges) == len(weights) + 1:
            labels = [_bin_label(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        if not isinstance(labels, list) or len(labels) != len(weights):
            labels = [f"bin {i + 1}" for i in range(len(weights))]
        return [str(label) for label in labels], [float(v or 0) for v in weights]
    if all(isinstance(v, int | float) for v in histogram.values()):
        return [str(k) for k in histogram], [float(v) for v in histogram.values()]
    return [], []


def _fractions(weights: list[float]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(w / total if total else 0.0 for w in weights)


def parse_histogram(detail: dict[str, Any]) -> Histogram:
    reference = detail.get("reference", detail.get("reference_histogram"))
    current = detail.get("current", detail.get("current_histogram"))
    ref_labels, ref_weights = _bins(reference)
    cur_labels, cur_weights = _bins(current)
    if ref_labels == cur_labels or not cur_labels:
        labels = ref_labels
    else:  # categorical frequencies may list different categories: align on the union, reference order first
        labels = ref_labels + [label for label in cur_labels if label not in ref_labels]
        ref_map, cur_map = (
            dict(zip(ref_labels, ref_weights, strict=True)),
            dict(zip(cur_labels, cur_weights, strict=True)),
        )
        ref_weights = [ref_map.get(label, 0.0) for label in labels]
        cur_weights = [cur_map.get(label, 0.0) for label in labels]
    if len(cur_weights) != len(labels):
        cur_weights = [0.0] * len(labels)
    return Histogram(tuple(labels), _fractions(ref_weights), _fractions(cur_weights))
