"""The event store: manifest-committed partitions, all-or-nothing ingest, orphan clean-up, dedup, privacy."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import engine.events as events_module
from console.cli.main import app
from engine.errors import ConfigError, StoreError
from engine.events import commit_events, event_schema, read_manifest, scan_events
from engine.ingest import IngestOptions, ingest_files
from engine.ingest.history import read_ingests
from engine.workspace import Workspace, init_workspace, open_workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")[0]


def _part_files(ws: Workspace) -> set[Path]:
    return set(ws.events_dir.glob("date=*/*"))


def _sorted(ws: Workspace) -> pl.DataFrame:
    return scan_events(ws).sort("event_time", "session_id", "product_id").collect()


def _three_day_file(folder: Path) -> Path:
    path = folder / "three_days.csv"
    path.write_text(
        "event_time,event_type,user_id,price\n"
        "2024-03-01 12:00,view,z,1\n"
        "2024-03-03 12:00,view,z,2\n"
        "2024-03-04 12:00,purchase,z,3\n"
    )
    return path


def test_empty_store_scans_to_the_canonical_schema(ws: Workspace) -> None:
    frame = scan_events(ws).collect()
    assert frame.height == 0
    assert frame.schema == pl.Schema(event_schema(["channel", "device", "country"]))


def test_partitions_and_manifest_layout(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "generic.csv"])
    manifest = read_manifest(ws)
    assert sorted(entry["date"] for entry in manifest["files"]) == ["2024-03-01", "2024-03-02"]
    for entry in manifest["files"]:
        assert entry["path"] == f"date={entry['date']}/part-{result.ingest_id}.parquet"
        assert (ws.events_dir / entry["path"]).exists()
    assert sum(entry["rows"] for entry in manifest["files"]) == result.rows_stored
    log = read_ingests(ws)
    assert len(log) == 1 and log[0]["id"] == result.ingest_id
    assert log[0]["rows_read"] == 8 and log[0]["quarantine_rate"] == 0.0
    assert log[0]["started"] and log[0]["finished"]


def test_reingest_with_derived_sessions_stores_nothing_new(ws: Workspace) -> None:
    first = ingest_files(ws, [FIXTURES / "retailrocket.csv"], IngestOptions(preset="retailrocket"))
    before = _sorted(ws)
    again = ingest_files(ws, [FIXTURES / "retailrocket.csv"], IngestOptions(preset="retailrocket"))
    assert first.rows_stored == 6
    assert (again.rows_stored, again.rows_duplicate, again.partitions) == (0, 6, [])
    assert _sorted(ws).equals(before)
    assert len(read_manifest(ws)["files"]) == len(first.partitions)


def test_overlapping_file_stores_only_new_rows(ws: Workspace, tmp_path: Path) -> None:
    ingest_files(ws, [FIXTURES / "generic.csv"])
    extended = tmp_path / "extended.csv"
    extended.write_text(
        (FIXTURES / "generic.csv").read_text() + "2024-03-05T10:00:00Z,view,u9,,p1,shoes,,10,,seo,mobile,DE\n"
    )
    result = ingest_files(ws, [extended])
    assert (result.rows_read, result.rows_stored, result.rows_duplicate) == (9, 1, 8)
    assert result.partitions == ["2024-03-05"]


def _fail_third_partition(monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]) -> None:
    real_write = events_module._write_partition
    calls: list[Path] = []

    def failing_write(path: Path, part: pl.DataFrame) -> None:
        calls.append(path)
        if len(calls) == 3:  # two of three partitions are written, then the failure
            raise failure("simulated crash")
        real_write(path, part)

    monkeypatch.setattr(events_module, "_write_partition", failing_write)


@pytest.mark.parametrize("failure", [OSError, KeyboardInterrupt])
def test_failure_mid_commit_leaves_the_store_unchanged(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]
) -> None:
    ingest_files(ws, [FIXTURES / "generic.csv"])
    before = _sorted(ws)
    manifest_before = read_manifest(ws)
    files_before = _part_files(ws)
    _fail_third_partition(monkeypatch, failure)
    with pytest.raises(failure):
        ingest_files(ws, [_three_day_file(tmp_path)])
    assert read_manifest(ws) == manifest_before
    assert _sorted(ws).equals(before)
    assert _part_files(ws) == files_before  # the two parts written before the failure are removed at once
    assert not list(ws.events_dir.rglob("*.tmp"))
    assert len(read_ingests(ws)) == 1


def test_crash_mid_commit_leaves_orphans_the_next_commit_removes(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.ingest.run as ingest_run

    ingest_files(ws, [FIXTURES / "generic.csv"])
    before = _sorted(ws)
    files_before = _part_files(ws)
    _fail_third_partition(monkeypatch, OSError)
    for module in (events_module, ingest_run):  # the process dies: no clean-up code runs
        monkeypatch.setattr(module, "discard_events", lambda staged: None)
    with pytest.raises(OSError):
        ingest_files(ws, [_three_day_file(tmp_path)])
    assert _sorted(ws).equals(before)
    orphans = _part_files(ws) - files_before
    assert len(orphans) == 2  # written but never committed: invisible to readers
    assert len(read_ingests(ws)) == 1

    monkeypatch.undo()
    result = ingest_files(ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))
    assert result.orphans_removed == 2
    assert not (orphans & _part_files(ws))
    assert _sorted(ws).height == before.height + result.rows_stored


def test_failure_writing_the_manifest_commits_nothing(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_files(ws, [FIXTURES / "generic.csv"])
    before = _sorted(ws)

    def failing_manifest(path: Path, payload: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(events_module, "atomic_write_json", failing_manifest)
    with pytest.raises(OSError):
        ingest_files(ws, [_three_day_file(tmp_path)])
    assert _sorted(ws).equals(before)


def test_commit_events_dedupes_within_the_frame(ws: Workspace) -> None:
    row = {
        "event_time": [datetime(2024, 1, 1, 10, tzinfo=UTC)] * 2,
        "event_type": ["view"] * 2,
        "event_name": ["view"] * 2,
        "session_id": ["s"] * 2,
    }
    frame = pl.DataFrame(row).with_columns(pl.col("event_time").dt.cast_time_unit("us"))
    counts = commit_events(ws, frame, "manual-1")
    assert (counts["rows_in"], counts["rows_stored"], counts["rows_duplicate"]) == (2, 1, 1)
    stored = scan_events(ws).collect()
    assert stored.height == 1 and stored["user_id"].to_list() == [None]


def _enable_hashing(ws: Workspace) -> Workspace:
    text = ws.config_path.read_text().replace("hash_user_ids = false", "hash_user_ids = true")
    ws.config_path.write_text(text)
    return open_workspace(ws.root)


def test_privacy_hashing_replaces_user_ids(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPCTL_HASH_KEY", "test-secret")
    hashed_ws = _enable_hashing(ws)
    result = ingest_files(hashed_ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))
    events = _sorted(hashed_ws)
    expected = hmac.new(b"test-secret", b"1", hashlib.sha256).hexdigest()
    assert expected in set(events["user_id"])
    assert not {"1", "100"} & set(events["user_id"])
    assert events.filter(pl.col("user_id") == expected)["session_id"].n_unique() == 1
    assert all(not session.startswith(("1#", "100#")) for session in events["session_id"])
    quarantine = pl.read_parquet(result.quarantine_file)
    assert "2" not in set(quarantine["user_id"])  # quarantined originals are hashed too
    again = ingest_files(hashed_ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))
    assert again.rows_stored == 0  # same key, same ids: dedup still works


def test_privacy_without_key_is_exit_2_naming_the_variable(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPCTL_HASH_KEY", raising=False)
    hashed_ws = _enable_hashing(ws)
    with pytest.raises(ConfigError, match="SHOPCTL_HASH_KEY"):
        ingest_files(hashed_ws, [FIXTURES / "generic.csv"])
    result = CliRunner().invoke(app, ["ingest", str(FIXTURES / "generic.csv"), "-w", str(ws.root)])
    assert result.exit_code == 2
    assert "SHOPCTL_HASH_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert scan_events(hashed_ws).collect().height == 0


def test_scan_events_fills_dimensions_added_later(ws: Workspace) -> None:
    ingest_files(ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))
    text = ws.config_path.read_text().replace(
        'dimensions = { channel = "channel", device = "device", country = "country" }',
        'dimensions = { channel = "channel", device = "device", country = "country", brand = "brand" }',
    )
    ws.config_path.write_text(text)
    reopened = open_workspace(ws.root)
    frame = scan_events(reopened).collect()
    assert frame.columns[-1] == "brand" and frame["brand"].null_count() == frame.height
    assert json.loads((ws.events_dir / "_manifest.json").read_text())["version"] == 1


def test_quarantine_file_of_a_crashed_ingest_is_cleaned(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = ingest_files(ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))

    def failing_manifest(path: Path, payload: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(events_module, "atomic_write_json", failing_manifest)
    bad = tmp_path / "bad.csv"
    bad.write_text("event_time,event_type\n2024-01-01 10:00,view\n,view\n")
    with pytest.raises(KeyboardInterrupt):
        ingest_files(ws, [bad])
    assert len(list(ws.quarantine_dir.glob("*.parquet"))) == 1  # the failed ingest removed its own file
    # A hard crash runs no clean-up code and leaves its file behind: the next ingest removes it.
    (ws.quarantine_dir / "20240101T000000-dead00.parquet").write_bytes(
        Path(kept.quarantine_file).read_bytes()
    )
    monkeypatch.undo()
    ingest_files(ws, [FIXTURES / "generic.csv"])
    assert [path.name for path in ws.quarantine_dir.glob("*.parquet")] == [Path(kept.quarantine_file).name]


def test_sessions_continue_across_separately_ingested_files(ws: Workspace, tmp_path: Path) -> None:
    lines = (FIXTURES / "retailrocket.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    # Visitor 111016's view and add-to-cart are in the first file, the purchase (100 s later) in the second.
    first = tmp_path / "first.csv"
    first.write_text("\n".join([header, *rows[:4]]) + "\n")
    second = tmp_path / "second.csv"
    second.write_text("\n".join([header, *rows[4:]]) + "\n")
    whole_ws = init_workspace(tmp_path / "whole")[0]
    ingest_files(whole_ws, [FIXTURES / "retailrocket.csv"], IngestOptions(preset="retailrocket"))
    ingest_files(ws, [first], IngestOptions(preset="retailrocket"))
    ingest_files(ws, [second], IngestOptions(preset="retailrocket"))
    assert _sorted(ws).equals(_sorted(whole_ws))
    again = ingest_files(ws, [second], IngestOptions(preset="retailrocket"))
    assert again.rows_stored == 0


def test_missing_part_file_is_a_store_error(ws: Workspace) -> None:
    ingest_files(ws, [FIXTURES / "generic.csv"])
    victim = ws.events_dir / read_manifest(ws)["files"][0]["path"]
    victim.unlink()
    with pytest.raises(StoreError, match="missing"):
        scan_events(ws)
