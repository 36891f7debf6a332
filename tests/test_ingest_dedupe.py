"""The dedupe identity of an event is its source row alone (issue 11 §1, issue 17 §2): re-ingesting a file,
the same rows shuffled, or overlapping files store every distinct source row exactly once, whatever is null."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.events import scan_events
from engine.ingest import ingest_files
from engine.workspace import init_workspace

BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
COLUMNS = ["event_time", "event_type", "user_id", "session_id", "product_id", "category", "price", "channel"]


def _maybe(values: list) -> st.SearchStrategy:
    return st.one_of(st.none(), st.sampled_from(values))


# Few distinct values per column, so that generated files repeat rows, share users and sessions, and put
# rows of one user with and without a session id side by side (the case that used to store rows again).
ROWS = st.lists(
    st.tuples(
        st.integers(0, 48).map(lambda step: (BASE + timedelta(minutes=step * 5)).isoformat()),
        st.sampled_from(["view", "cart", "purchase", "checkout"]),
        _maybe(["u1", "u2", "u3"]),
        _maybe(["s1", "s2"]),
        _maybe(["p1", "p2", "p3"]),
        _maybe(["shoes", "bags"]),
        _maybe([9.99, 12.5, 0.0]),
        _maybe(["web", "app"]),
    ),
    min_size=1,
    max_size=40,
)


def _write(rows: list[tuple], path: Path) -> Path:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS), orient="row")
    frame.write_csv(path)
    return path


def _distinct(rows: list[tuple]) -> int:
    return len(set(rows))


def _ingest(ws, path: Path) -> dict:
    result = ingest_files(ws, [path]).to_dict()
    assert (
        result["rows_read"] == result["rows_stored"] + result["rows_quarantined"] + result["rows_duplicate"]
    )
    assert result["rows_quarantined"] == 0, result["quarantine_reasons"]
    return result


PROPERTY = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(rows=ROWS, seed=st.integers(0, 1000))
def test_a_file_again_or_shuffled_stores_nothing_new(rows: list[tuple], seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ws, _ = init_workspace(root / "ws")
        first = _ingest(ws, _write(rows, root / "a.csv"))
        assert first["rows_stored"] == _distinct(rows)
        assert _ingest(ws, root / "a.csv")["rows_stored"] == 0
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        assert _ingest(ws, _write(shuffled, root / "shuffled.csv"))["rows_stored"] == 0
        assert scan_events(ws).collect().height == _distinct(rows)


@PROPERTY
@given(a=ROWS, b=ROWS, overlap=st.integers(0, 40))
def test_overlapping_files_store_their_union_once_in_either_order(
    a: list[tuple], b: list[tuple], overlap: int
) -> None:
    second = a[:overlap] + b
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for order, files in {"ab": (a, second), "ba": (second, a)}.items():
            ws, _ = init_workspace(root / order)
            stored = sum(
                _ingest(ws, _write(rows, root / f"{order}{i}.csv"))["rows_stored"]
                for i, rows in enumerate(files)
            )
            assert stored == _distinct(a + second), order
            assert scan_events(ws).collect().height == _distinct(a + second)


def test_the_audit_reproduction_stores_two_then_nothing() -> None:
    """Issue 17 §2: a user's rows mixing a present and an empty session id stored 2, 1, 0 on three ingests."""
    rows = [
        ("2026-11-20T10:00:00+00:00", "view", "u1", "s1", "p1", None, 10.0, None),
        ("2026-11-20T10:05:00+00:00", "view", "u1", None, "p2", None, 12.0, None),
    ]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ws, _ = init_workspace(root / "ws")
        path = _write(rows, root / "two.csv")
        assert [_ingest(ws, path)["rows_stored"] for _ in range(3)] == [2, 0, 0]
        stored = scan_events(ws).collect().sort("event_time")
        assert stored["session_id"][0] == "s1" and stored["session_id"][1] is not None
