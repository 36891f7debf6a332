"""`build_segments`: the customer table of one as-of moment (RFM, segment, cluster), written atomically to
data/segments/segments.parquet and summarised in the store; `load_segments`, `segment_summary` and
`customer_profile` read it back for `shopctl segments show`."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from engine.clock import iso, now_text
from engine.customers.clusters import cluster_customers
from engine.customers.names import SEGMENTS
from engine.customers.rfm import behaviour, future_buyers, orders, rfm_table
from engine.errors import InputError, NotFoundError
from engine.events import event_span
from engine.infra.atomic import atomic_write_with
from engine.store.db import open_store
from engine.store.segments import save_build
from engine.workspace import Workspace

SEGMENTS_FILE = "segments.parquet"
COLUMNS = (
    "user_id",
    "as_of",
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "cluster",
    "sessions",
    "views_per_session",
    "cart_rate",
    "first_order",
    "last_order",
    "repurchased",
    "p_alive",
    "expected_orders",
    "clv",
)


def segments_path(ws: Workspace) -> Path:
    return ws.data_dir / "segments" / SEGMENTS_FILE


def _as_of(value: Any, last_event: datetime) -> datetime:
    from engine.features.build import midnight_after
    from engine.features.users import as_utc_datetime

    return midnight_after(last_event) if value is None else as_utc_datetime(value, "--as-of")


def _fingerprint(table: pl.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(table.write_csv(float_precision=6).encode("utf-8"))
    return digest.hexdigest()


def build_segments(
    ws: Workspace, as_of: Any = None, *, seed: int = 0, horizon_days: int | None = None
) -> dict[str, Any]:
    """Score every customer with purchases before as_of (a date means its midnight UTC; default: the midnight
    after the newest event), predict their lifetime value over horizon_days (default [features] horizon_days),
    cluster them, write the table and record the build; the `--json` payload."""
    from engine.customers.clv import clv_table

    started = time.perf_counter()
    events, _, _, last_event = event_span(ws)
    moment = _as_of(as_of, last_event)
    horizon = int(horizon_days or ws.settings.features.horizon_days)
    order_rows = orders(events, moment).collect()
    table = rfm_table(order_rows.lazy(), moment)
    if table.height == 0:
        raise InputError(
            f"{ws.events_dir}: no purchase events with a user_id before {moment:%Y-%m-%d %H:%M} UTC; "
            "segments need purchases (check the event mapping, e.g. --event NAME=purchase, or pick a later --as-of)"
        )
    table = table.join(behaviour(events, moment).collect(), on="user_id", how="left").with_columns(
        pl.col("sessions").fill_null(0),
        pl.col("views_per_session").fill_null(0.0),
        pl.col("cart_rate").fill_null(0.0),
    )
    lifetime, clv_model = clv_table(order_rows, moment, horizon)
    table = table.join(lifetime.drop("expected_order_value"), on="user_id", how="left")
    clustering = cluster_customers(table, seed=seed)
    future_known = last_event >= moment
    repurchased = (
        pl.col("user_id").is_in(future_buyers(events, moment).collect()["user_id"].implode()).cast(pl.Int8)
        if future_known
        else pl.lit(None, dtype=pl.Int8)
    )
    table = table.with_columns(
        pl.lit(moment).alias("as_of"),
        pl.Series("cluster", clustering.labels, dtype=pl.Int32),
        repurchased.alias("repurchased"),
    ).select(COLUMNS)
    fingerprint = _fingerprint(table)
    path = segments_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = not (path.exists() and _same_file(path, table))
    if written:
        atomic_write_with(path, lambda tmp: table.write_parquet(tmp, statistics=True), suffix=".parquet")
    summary = segment_summary(table)
    summary["clusters"] = clustering.profiles
    summary["silhouettes"] = {str(k): v for k, v in clustering.silhouettes.items()}
    summary["cluster_features"] = list(clustering.features)
    clv_summary = {
        "horizon_days": horizon,
        "model": "bgnbd_gg" if clv_model else None,
        "params": clv_model.params() if clv_model else None,
        "total": None if clv_model is None else round(float(table["clv"].sum()), 2),
    }
    summary["clv"] = clv_summary
    store = open_store(ws)
    build_id, recorded = save_build(
        store,
        as_of=str(iso(moment)),
        built=now_text(),
        fingerprint=fingerprint,
        users=table.height,
        orders=int(table["frequency"].sum()),
        revenue=float(table["monetary"].sum()),
        clusters=clustering.k,
        summary=_stored_summary(summary),
    )
    return {
        "build_id": build_id,
        "as_of": iso(moment),
        "path": str(path),
        "changed": written or recorded,
        "users": table.height,
        "orders": int(table["frequency"].sum()),
        "revenue": round(float(table["monetary"].sum()), 2),
        "future_known": future_known,
        "k": clustering.k,
        "silhouettes": summary["silhouettes"],
        "segments": summary["segments"],
        "clusters": clustering.profiles,
        "clv": clv_summary,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _same_file(path: Path, table: pl.DataFrame) -> bool:
    try:
        existing = pl.read_parquet(path)
    except Exception:  # noqa: BLE001 - an unreadable old file is simply replaced
        return False
    return existing.columns == table.columns and _fingerprint(existing) == _fingerprint(table)


def _stored_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """What the store keeps of a build: counts per segment, overall figures and the cluster profiles."""
    return {
        "segments": {row["segment"]: row["users"] for row in summary["segments"]},
        "segment_rows": summary["segments"],
        "repurchase_rate": summary["repurchase_rate"],
        "clusters": summary["clusters"],
        "silhouettes": summary["silhouettes"],
        "cluster_features": summary["cluster_features"],
        "clv": summary.get("clv"),
    }


def _mean(frame: pl.DataFrame, column: str) -> float | None:
    value = frame[column].mean() if frame.height else None
    return None if value is None else round(float(value), 4)  # type: ignore[arg-type]


def segment_summary(table: pl.DataFrame) -> dict[str, Any]:
    """Per segment (in SEGMENTS order, empty ones left out): users, share, mean recency/frequency/monetary and
    scores, revenue share, and the repurchase rate when the table knows the future; plus per-score rates."""
    users = table.height
    revenue = float(table["monetary"].sum()) or 1.0
    future_known = table["repurchased"].null_count() < users
    rows = []
    for name in SEGMENTS:
        members = table.filter(pl.col("segment") == name)
        if members.height == 0:
            continue
        rows.append(
            {
                "segment": name,
                "users": members.height,
                "share": round(members.height / users, 6),
                "recency_days": _mean(members, "recency_days"),
                "frequency": _mean(members, "frequency"),
                "monetary": _mean(members, "monetary"),
                "r_score": _mean(members, "r_score"),
                "f_score": _mean(members, "f_score"),
                "m_score": _mean(members, "m_score"),
                "revenue_share": round(float(members["monetary"].sum()) / revenue, 6),
                "repurchase_rate": _mean(members, "repurchased") if future_known else None,
                "clv": _mean(members, "clv") if "clv" in members.columns else None,
            }
        )
    by_score: dict[str, dict[str, Any]] = {}
    if future_known:
        for column in ("r_score", "f_score", "m_score"):
            grouped = table.group_by(column).agg(
                pl.len().alias("users"), pl.col("repurchased").mean().alias("rate")
            )
            by_score[column] = {
                str(row[column]): {"users": row["users"], "repurchase_rate": round(float(row["rate"]), 6)}
                for row in grouped.sort(column).iter_rows(named=True)
            }
    as_of = table["as_of"][0] if users else None
    return {
        "as_of": iso(as_of),
        "users": users,
        "future_known": future_known,
        "repurchase_rate": _mean(table, "repurchased") if future_known else None,
        "segments": rows,
        "repurchase_by_score": by_score,
    }


def load_segments(ws: Workspace) -> pl.DataFrame:
    """The newest segment table, or NotFoundError saying how to build one."""
    path = segments_path(ws)
    if not path.exists():
        raise NotFoundError(f"{path}: no segment build yet; run `shopctl segments build` first")
    return pl.read_parquet(path)


def customer_profile(ws: Workspace, user_id: str) -> dict[str, Any]:
    """One customer's row of the newest build with their cluster's description; NotFoundError if unknown."""
    from engine.store.segments import build_at

    table = load_segments(ws)
    found = table.filter(pl.col("user_id") == user_id)
    if found.height == 0:
        raise NotFoundError(
            f"user {user_id!r}: not in {segments_path(ws)} (no purchase before its as-of "
            f"{table['as_of'][0]:%Y-%m-%d}); ids match the events' user_id exactly (leading zeros kept)"
        )
    row = found.row(0, named=True)
    profile: dict[str, Any] = {
        key: (iso(value) if isinstance(value, datetime) else value) for key, value in row.items()
    }
    build = build_at(open_store(ws), str(iso(row["as_of"])))
    clusters = (build or {}).get("summary", {}).get("clusters", [])
    described = next((c for c in clusters if c.get("cluster") == row["cluster"]), None)
    profile["cluster_description"] = described["description"] if described else None
    profile["clv_horizon_days"] = ((build or {}).get("summary", {}).get("clv") or {}).get("horizon_days")
    return profile
