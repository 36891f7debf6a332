"""`shopctl ingest` and `shopctl data summary` through the CLI: results, and one-line exit-2 errors."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import engine.ingest.run as ingest_run
from console.cli.main import app
from engine.infra.locks import workspace_lock
from engine.workspace import init_workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    init_workspace(tmp_path / "ws")
    return tmp_path / "ws"


def _ingest(root: Path, *args: str):
    return runner.invoke(app, ["ingest", *args, "-w", str(root), "--json"])


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_ingest_json_counts_add_up_and_reingest_stores_nothing(root: Path) -> None:
    first = _ingest(root, str(FIXTURES / "taobao.csv"), "--preset", "taobao")
    assert first.exit_code == 0, first.output
    payload = json.loads(first.stdout)
    assert payload["rows_read"] == 8
    assert (
        payload["rows_read"]
        == payload["rows_stored"] + payload["rows_quarantined"] + payload["rows_duplicate"]
    )
    assert payload["rows_quarantined"] == 2 and Path(payload["quarantine_file"]).exists()
    again = json.loads(_ingest(root, str(FIXTURES / "taobao.csv"), "--preset", "taobao").stdout)
    assert again["rows_stored"] == 0
    assert again["rows_duplicate"] == 6 and again["rows_quarantined"] == 2


def test_ingest_human_output(root: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(FIXTURES / "rees46.csv"), "--preset", "rees46", "-w", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "read 8 rows, stored 7" in result.stdout and "duplicates 1" in result.stdout


def test_mapping_options_on_the_command_line(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "odd.tsv"
    path.write_text("when\twho\twhat\tsrc\n20240301\ta\tbasket\tads\n")
    result = _ingest(
        root,
        str(path),
        "--column",
        "event_time=when",
        "--column",
        "user_id=who",
        "--column",
        "event_type=what",
        "--event",
        "basket=cart",
        "--dimension",
        "channel=src",
        "--time-format",
        "yyyymmdd",
        "--time-zone",
        "Europe/Paris",
        "--session-gap",
        "10",
        "--delimiter",
        "tab",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_stored"] == 1
    summary = json.loads(runner.invoke(app, ["data", "summary", "-w", str(root), "--json"]).stdout)
    assert summary["events_by_type"]["cart"] == 1
    assert summary["first_event"] == "2024-02-29T23:00:00+00:00"  # midnight in Paris


def test_empty_file_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    _assert_one_line_error(_ingest(root, str(path)), str(path), "empty")


def test_header_only_file_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("event_time,event_type\n")
    _assert_one_line_error(_ingest(root, str(path)), str(path), "no data rows")


def test_text_named_parquet_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    path.write_text("event_time,event_type\n2024-01-01,view\n")
    _assert_one_line_error(_ingest(root, str(path)), str(path), "Parquet")


def test_binary_file_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00\x08\x00" + bytes(range(256)))
    _assert_one_line_error(_ingest(root, str(path)), str(path), "not a recognised format")


def test_missing_required_column_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "no_time.csv"
    path.write_text("user_id,event_type\na,view\n")
    _assert_one_line_error(
        _ingest(root, str(path)), str(path), "missing required column event_time", "user_id"
    )


def test_corrupt_gzip_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(b"event_time,event_type\n2024-01-01,view\n" * 50)[:40])
    _assert_one_line_error(_ingest(root, str(path)), str(path), "gzip")


def test_truncated_parquet_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1" + b"\x15\x04" * 20)
    _assert_one_line_error(_ingest(root, str(path)), str(path), "cannot be read as Parquet")


def test_missing_file_is_exit_2(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    _assert_one_line_error(_ingest(root, str(path)), str(path), "no such file")


def test_unknown_column_source_names_available_columns(root: Path) -> None:
    result = _ingest(root, str(FIXTURES / "generic.csv"), "--column", "user_id=visitor")
    _assert_one_line_error(result, "'visitor'", "available columns", "'event_time'", "'channel'")


def test_malformed_mapping_option_is_exit_2(root: Path) -> None:
    _assert_one_line_error(_ingest(root, str(FIXTURES / "generic.csv"), "--event", "view"), "NAME=VALUE")


def test_one_bad_file_stores_nothing_from_the_good_one(root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _assert_one_line_error(_ingest(root, str(FIXTURES / "generic.csv"), str(empty)), "empty")
    summary = json.loads(runner.invoke(app, ["data", "summary", "-w", str(root), "--json"]).stdout)
    assert summary["events"] == 0 and summary["ingests"] == 0


def test_busy_workspace_is_exit_4(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_run, "workspace_lock", functools.partial(workspace_lock, wait_seconds=0))
    ws = init_workspace(root)[0]
    with workspace_lock(ws, "ingest"):
        result = _ingest(root, str(FIXTURES / "generic.csv"))
    assert result.exit_code == 4
    assert "workspace busy" in result.stderr


def test_data_summary(root: Path) -> None:
    empty = json.loads(runner.invoke(app, ["data", "summary", "-w", str(root), "--json"]).stdout)
    assert empty["events"] == 0 and empty["last_ingest"] is None
    _ingest(root, str(FIXTURES / "taobao.csv"), "--preset", "taobao")
    _ingest(root, str(FIXTURES / "generic.csv"))
    result = runner.invoke(app, ["data", "summary", "-w", str(root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["events"] == 13
    assert summary["events_by_type"] == {
        "view": 3 + 4,
        "cart": 2,
        "remove_from_cart": 0,
        "checkout": 0,
        "purchase": 2,
        "other": 1 + 1,
    }
    assert summary["first_event"] == "2017-11-24T17:21:10+00:00"
    assert summary["last_event"] == "2024-03-02T09:00:00+00:00"
    assert summary["users"] == 4  # taobao 1, 100; generic u1, u2 (the anonymous row has none)
    assert summary["sessions"] == 2 + 4
    assert summary["partitions"] == 4
    assert summary["quarantined_by_reason"] == {"implausible event_time": 2}
    assert summary["ingests"] == 2 and summary["last_ingest"]["rows_stored"] == 7
    human = runner.invoke(app, ["data", "summary", "-w", str(root)])
    assert (
        human.exit_code == 0 and "events      13" in human.stdout and "implausible event_time" in human.stdout
    )


def test_folder_instead_of_file_is_exit_2(root: Path, tmp_path: Path) -> None:
    _assert_one_line_error(_ingest(root, str(tmp_path)), str(tmp_path), "is a folder")


def test_resessionize_flag(root: Path) -> None:
    result = _ingest(root, str(FIXTURES / "rees46.csv"), "--preset", "rees46", "--resessionize")
    assert result.exit_code == 0, result.output
    summary = json.loads(runner.invoke(app, ["data", "summary", "-w", str(root), "--json"]).stdout)
    assert summary["sessions"] == 3  # user 541312140 on two days, user 554748717 once


def test_jsonl_quarantine_reports_the_line(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"event_time": "2024-01-01T10:00:00Z", "event_type": "view", "user_id": 1}\n'
        '{"event_time": "not a time", "event_type": "view", "user_id": 2}\n'
    )
    payload = json.loads(_ingest(root, str(path)).stdout)
    assert payload["quarantine_reasons"] == {"unparseable event_time": 1}
    quarantine = pl.read_parquet(payload["quarantine_file"])
    assert quarantine.select("_line", "user_id").rows() == [(2, "2")]


def test_json_array_is_exit_2_with_the_fix(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('[{"event_time": "2024-01-01", "event_type": "view"}]')
    _assert_one_line_error(_ingest(root, str(path)), str(path), "JSON Lines")
