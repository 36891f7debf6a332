"""A/B experiments and their analyses in the store (tables from migration 3)."""

from __future__ import annotations

import json
from typing import Any

from engine.store.db import Store


def upsert_experiment(
    store: Store, *, dimension: str, metric: str, unit: str, query: dict[str, Any], at: str
) -> int:
    """Record (or update the options of) the experiment on this dimension, metric and unit; returns its id.
    Analysing an experiment again marks it running."""
    with store.transaction() as connection:
        connection.execute(
            "INSERT INTO experiments (dimension, metric, unit, query_json, status, created, updated) "
            "VALUES (?, ?, ?, ?, 'running', ?, ?) ON CONFLICT (dimension, metric, unit) DO UPDATE SET "
            "query_json = excluded.query_json, status = 'running', updated = excluded.updated",
            (dimension, metric, unit, json.dumps(query, sort_keys=True), at, at),
        )
        row = connection.execute(
            "SELECT id FROM experiments WHERE dimension = ? AND metric = ? AND unit = ?",
            (dimension, metric, unit),
        ).fetchone()
    return int(row[0])


def record_result(store: Store, experiment_id: int, payload: dict[str, Any], *, at: str) -> int:
    """Store one analysis; the same experiment analysed up to the same last session replaces its row."""
    last_session = payload["experiment"]["last_session"] or ""
    significant = any(row["significant"] for row in payload["comparisons"])
    with store.transaction() as connection:
        connection.execute(
            "INSERT INTO experiment_results (experiment_id, analyzed, last_session, srm_p_value, srm_mismatch, "
            "significant, verdict, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (experiment_id, last_session) DO UPDATE SET analyzed = excluded.analyzed, "
            "srm_p_value = excluded.srm_p_value, srm_mismatch = excluded.srm_mismatch, "
            "significant = excluded.significant, verdict = excluded.verdict, payload_json = excluded.payload_json",
            (
                experiment_id,
                at,
                last_session,
                payload["srm"]["p_value"],
                int(payload["srm"]["mismatch"]),
                int(significant),
                payload["verdict"],
                json.dumps(payload, default=str),
            ),
        )
        row = connection.execute(
            "SELECT id FROM experiment_results WHERE experiment_id = ? AND last_session = ?",
            (experiment_id, last_session),
        ).fetchone()
    return int(row[0])


def set_status(store: Store, experiment_id: int, status: str, *, at: str) -> bool:
    """Mark an experiment running or stopped; False when there is no such experiment."""
    cursor = store.execute(
        "UPDATE experiments SET status = ?, updated = ? WHERE id = ?", (status, at, experiment_id)
    )
    return cursor.rowcount > 0


def list_experiments(store: Store, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every experiment (optionally of one status) with its newest analysis (`latest`, None before the first)."""
    where = "WHERE e.status = ?" if status else ""
    rows = store.query(
        "SELECT e.*, r.id AS result_id, r.analyzed, r.last_session, r.srm_p_value, r.srm_mismatch, "
        "r.significant, r.verdict, r.payload_json FROM experiments e LEFT JOIN experiment_results r ON r.id = ("
        "SELECT id FROM experiment_results WHERE experiment_id = e.id ORDER BY analyzed DESC, id DESC LIMIT 1) "
        f"{where} ORDER BY e.id",
        (status,) if status else (),
    )
    experiments = []
    for row in rows:
        latest = None
        if row["result_id"] is not None:
            latest = {
                "id": row["result_id"],
                "analyzed": row["analyzed"],
                "last_session": row["last_session"],
                "srm_p_value": row["srm_p_value"],
                "srm_mismatch": bool(row["srm_mismatch"]),
                "significant": bool(row["significant"]),
                "verdict": row["verdict"],
                "payload": json.loads(row["payload_json"]),
            }
        experiments.append(
            {
                "id": row["id"],
                "dimension": row["dimension"],
                "metric": row["metric"],
                "unit": row["unit"],
                "query": json.loads(row["query_json"]),
                "status": row["status"],
                "created": row["created"],
                "updated": row["updated"],
                "latest": latest,
            }
        )
    return experiments
