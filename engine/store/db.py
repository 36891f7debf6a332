"""Connection handling and versioned migrations for the SQLite store.

WAL mode lets the TUI read while the daemon writes; a busy timeout plus a retry loop on writes means a
user never sees "database is locked". Migrations are append-only: never edit one that has shipped.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import StoreError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
WRITE_RETRY_SECONDS = 60.0

# Append-only list of migrations; PRAGMA user_version records how many have run.
MIGRATIONS: list[str] = [
    # 1: monitoring runs, metrics as a time series, alerts and sink deliveries, scheduled job runs.
    """
    CREATE TABLE monitor_runs (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL DEFAULT '',          -- '' when no model is monitored (data and KPI checks only)
        model_version INTEGER,
        source TEXT NOT NULL DEFAULT 'events',   -- 'events' or the path of an --input batch
        window_start TEXT NOT NULL,              -- ISO-8601 UTC, inclusive
        window_end TEXT NOT NULL,                -- ISO-8601 UTC, exclusive
        started TEXT NOT NULL,
        finished TEXT,
        status TEXT NOT NULL,                    -- ok | warning | critical | error
        summary_json TEXT NOT NULL DEFAULT '{}',
        UNIQUE (model, source, window_start, window_end)
    );
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES monitor_runs(id) ON DELETE CASCADE,
        model TEXT NOT NULL DEFAULT '',
        check_name TEXT NOT NULL,                -- quality | drift | performance | kpi | ...
        metric TEXT NOT NULL,                    -- e.g. roc_auc, conversion_rate, psi
        scope TEXT NOT NULL DEFAULT 'overall',   -- overall | feature:<name> | segment:<dim>=<value> | model:<name>
        window_start TEXT NOT NULL,
        window_end TEXT NOT NULL,
        value REAL,
        kind TEXT NOT NULL DEFAULT 'realized',   -- realized | estimated | reference | baseline
        lower REAL,
        upper REAL,
        threshold REAL,
        status TEXT NOT NULL DEFAULT 'ok',       -- ok | warning | critical | skipped
        detail_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX metrics_series ON metrics (metric, scope, window_end);
    CREATE INDEX metrics_run ON metrics (run_id);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        metric TEXT NOT NULL,
        scope TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        severity TEXT NOT NULL,                  -- info | warning | critical
        state TEXT NOT NULL,                     -- open | acknowledged | resolved
        message TEXT NOT NULL,
        value REAL,
        threshold REAL,
        consecutive INTEGER NOT NULL DEFAULT 1,
        opened TEXT NOT NULL,
        updated TEXT NOT NULL,
        resolved TEXT,
        acknowledged_by TEXT,
        acknowledged_at TEXT,
        window_end TEXT,
        detail_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_state ON alerts (state, rule, scope);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER REFERENCES alerts(id) ON DELETE SET NULL,
        sink TEXT NOT NULL,
        status TEXT NOT NULL,                    -- delivered | failed
        attempts INTEGER NOT NULL,
        error TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        trigger TEXT NOT NULL DEFAULT 'schedule', -- schedule | run-now | retry | misfire
        scheduled_for TEXT,
        started TEXT NOT NULL,
        finished TEXT,
        status TEXT NOT NULL,                    -- running | ok | failed | skipped | interrupted
        error TEXT,
        produced_json TEXT NOT NULL DEFAULT '{}',
        pid INTEGER
    );
    CREATE INDEX job_runs_job ON job_runs (job_id, started);
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    """,
    # 2: the outbox of network deliveries (webhook, command), sent after the checks are stored. Each item
    # has a `deliveries` row, status 'queued' until it ends delivered or failed (then the item is deleted).
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL UNIQUE REFERENCES deliveries(id) ON DELETE CASCADE,
        sink TEXT NOT NULL,                      -- webhook | command
        payload_json TEXT NOT NULL,              -- the alert as it was when queued
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,              -- unix time, later after each failed attempt (backoff)
        claimed_by TEXT,                         -- the drain sending it now, if any
        claimed_until REAL,                      -- unix time the claim lapses (then another drain may send it)
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (next_attempt);
    """,
    # 3: one row per customer-segment build (`shopctl segments build`), keyed by its as-of moment; the
    # summary holds the segment counts and cluster profiles that monitoring and the TUI compare over builds.
    """
    CREATE TABLE segment_builds (
        id INTEGER PRIMARY KEY,
        as_of TEXT NOT NULL UNIQUE,              -- ISO-8601 UTC: events strictly before it were used
        built TEXT NOT NULL,
        fingerprint TEXT NOT NULL,               -- sha256 of the segment table: same data, same build
        users INTEGER NOT NULL,
        orders INTEGER NOT NULL,
        revenue REAL NOT NULL,
        clusters INTEGER NOT NULL,
        summary_json TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 4: demand forecasts (`shopctl forecast`): one run per metric, split, as-of day and horizon (a re-run
    # replaces it), its backtest, and a point per series and day with its prediction interval.
    """
    CREATE TABLE forecast_runs (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,                    -- orders | units | revenue | sessions
        by_column TEXT NOT NULL DEFAULT '',      -- '' for the shop's total, else the column split by
        as_of TEXT NOT NULL,                     -- YYYY-MM-DD, the last day of actuals used
        horizon_days INTEGER NOT NULL,
        level REAL NOT NULL,                     -- interval coverage, e.g. 0.95
        created TEXT NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        backtest_json TEXT NOT NULL DEFAULT '[]',
        UNIQUE (metric, by_column, as_of, horizon_days)
    );
    CREATE TABLE forecast_points (
        run_id INTEGER NOT NULL REFERENCES forecast_runs(id) ON DELETE CASCADE,
        series TEXT NOT NULL,
        day TEXT NOT NULL,                       -- YYYY-MM-DD
        model TEXT NOT NULL,
        value REAL NOT NULL,
        lower REAL NOT NULL,
        upper REAL NOT NULL,
        PRIMARY KEY (run_id, series, day)
    );
    """,
    # 5: A/B experiments (one row per variant dimension, metric and unit analysed) and each analysis of one,
    # keyed by the last session it saw so re-running the same analysis replaces its row.
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        dimension TEXT NOT NULL,
        metric TEXT NOT NULL,
        unit TEXT NOT NULL,                      -- user | session
        query_json TEXT NOT NULL,                -- the options it is analysed with (control, since, sequential...)
        status TEXT NOT NULL DEFAULT 'running',  -- running | stopped (the daemon analyses running ones)
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        UNIQUE (dimension, metric, unit)
    );
    CREATE TABLE experiment_results (
        id INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        analyzed TEXT NOT NULL,
        last_session TEXT NOT NULL,              -- ISO-8601 UTC start of the newest session analysed
        srm_p_value REAL,
        srm_mismatch INTEGER NOT NULL,
        significant INTEGER NOT NULL,            -- any variant significant (by the sequence when sequential)
        verdict TEXT NOT NULL,
        payload_json TEXT NOT NULL,              -- the `experiment analyze --json` payload
        UNIQUE (experiment_id, last_session)
    );
    CREATE INDEX experiment_results_latest ON experiment_results (experiment_id, analyzed);
    """,
]


def _is_locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


class Store:
    """One workspace's SQLite store; a connection per thread, writes retried until the lock clears."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot open the store: {error}") from None
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys = ON")
        self._retry(lambda: connection.execute("PRAGMA journal_mode = WAL"))
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @property
    def connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            self.migrate()
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _retry(self, operation: Callable[[], T]) -> T:
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        delay = 0.02
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as error:
                if not _is_locked(error):
                    raise StoreError(f"{self.path}: {error}") from None
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{self.path}: the store stayed locked by another process (the daemon or another "
                        f"shopctl command) for {WRITE_RETRY_SECONDS:g}s ({error}); try again when it finishes"
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def migrate(self) -> int:
        """Run the migrations this file has not seen yet; returns the schema version."""
        connection = self._local.connection

        def run() -> int:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(MIGRATIONS):
                return version
            connection.execute("BEGIN IMMEDIATE")
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                for index in range(version, len(MIGRATIONS)):
                    for statement in MIGRATIONS[index].split(";"):
                        if statement.strip():
                            connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            return len(MIGRATIONS)

        return self._retry(run)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE), retried while another writer holds the lock."""
        connection = self.connection
        self._retry(lambda: connection.execute("BEGIN IMMEDIATE"))
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            self._retry(lambda: connection.execute("COMMIT"))

    def execute(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement (autocommit), retrying while the database is busy."""
        return self._retry(lambda: self.connection.execute(sql, parameters))

    def query(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as plain dicts."""
        cursor = self._retry(lambda: self.connection.execute(sql, parameters))
        return [dict(row) for row in cursor.fetchall()]

    def schema_version(self) -> int:
        return self.connection.execute("PRAGMA user_version").fetchone()[0]


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types it Optional: it is None only when nothing was inserted)."""
    if cursor.lastrowid is None:
        raise StoreError("an INSERT reported no row id")
    return int(cursor.lastrowid)


def open_store(workspace) -> Store:  # noqa: ANN001 - engine.workspace.Workspace, kept import-light
    """The store of a workspace (created and migrated on first use)."""
    return Store(workspace.store_path)
