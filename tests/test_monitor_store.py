"""The store's metric series: one point per (model, metric, scope, kind, window), both kinds kept, retention."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.store.db import Store
from engine.store.metrics import apply_retention, list_runs, newest_window_end, query_metrics, save_run


def _row(
    metric: str, value: float, kind: str = "realized", scope: str = "model:shop", model: str = "shop"
) -> dict:
    return {
        "check_name": "performance",
        "metric": metric,
        "scope": scope,
        "model": model,
        "kind": kind,
        "value": value,
        "status": "ok",
        "detail": {"reference": 0.8},
    }


def _save(store: Store, day: int, rows: list[dict], model: str = "shop") -> int:
    start, end = f"2026-03-{day - 1:02d}T00:00:00+00:00", f"2026-03-{day:02d}T00:00:00+00:00"
    return save_run(
        store,
        model=model,
        model_version=1,
        source="events",
        window_start=start,
        window_end=end,
        started=end,
        finished=end,
        status="ok",
        summary={"checks": {}},
        metrics=rows,
    )


def test_estimated_then_realized_both_stay_and_reruns_replace(tmp_path: Path) -> None:
    store = Store(tmp_path / "shopctl.db")
    first = _save(store, 5, [_row("roc_auc", 0.78, "estimated")])
    second = _save(store, 5, [_row("roc_auc", 0.79, "estimated"), _row("roc_auc", 0.74)])
    assert first == second
    rows = query_metrics(store, metric="roc_auc")
    assert [(row["kind"], row["value"]) for row in rows] == [("estimated", 0.79), ("realized", 0.74)]
    assert rows[0]["detail"] == {"reference": 0.8}
    # A data-only run repeating the same shop-wide figure does not duplicate it.
    kpi = {**_row("conversion_rate", 0.03, scope="overall", model=""), "check_name": "kpi"}
    _save(store, 5, [kpi], model="")
    _save(store, 5, [kpi])
    assert len(query_metrics(store, metric="conversion_rate")) == 1
    assert len(list_runs(store)) == 2


def test_globs_since_and_newest_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "shopctl.db")
    for day in (3, 4, 5):
        _save(store, day, [_row("roc_auc", 0.7 + day / 100, scope=f"segment:device=d{day}")])
    assert len(query_metrics(store, scope="segment:device=*")) == 3
    assert [row["window_end"][:10] for row in query_metrics(store, since="2026-03-03T00:00:00+00:00")] == [
        "2026-03-04",
        "2026-03-05",
    ]
    assert [row["value"] for row in query_metrics(store, limit=1)] == [0.75]
    assert (
        newest_window_end(store, model="shop", source="events", length_seconds=86400)
        == "2026-03-05T00:00:00+00:00"
    )
    assert newest_window_end(store, model="shop", source="events", length_seconds=3600) is None


def test_retention_deletes_old_runs_and_their_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "shopctl.db")
    _save(store, 3, [_row("roc_auc", 0.7)])
    _save(store, 20, [_row("roc_auc", 0.8)])
    now = datetime(2026, 3, 25, tzinfo=UTC)
    assert apply_retention(store, 0, now)["runs"] == 0
    removed = apply_retention(store, 10, now)
    assert removed["runs"] == 1 and removed["metrics"] == 1
    assert [row["value"] for row in query_metrics(store)] == [0.8]
