"""Text files as people bring them (issue 17 §7, §9 and the fuzz table): Latin-1 exports, file names that are
not UTF-8, duplicate header names and day-first or RFC 2822 timestamps each say what happened, and lose nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.events import scan_events
from engine.workspace import init_workspace

runner = CliRunner()
HEADER = "event_time,event_type,user_id,session_id,product_id,price\n"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    init_workspace(tmp_path / "shop")
    return tmp_path / "shop"


def ingest(shop: Path, path: Path | str, *extra: str) -> dict:
    result = runner.invoke(app, ["ingest", str(path), "-w", str(shop), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored_products(shop: Path) -> list[str]:
    from engine.workspace import open_workspace

    return sorted(scan_events(open_workspace(shop)).select("product_id").collect()["product_id"].to_list())


def latin1_file(folder: Path) -> Path:
    path = folder / "latin1.csv"
    path.write_bytes(
        (
            HEADER
            + "2026-11-20T10:00:00Z,view,u1,s1,café,10\n2026-11-20T10:05:00Z,view,u1,s1,crème brûlée,12\n"
        ).encode("latin-1")
    )
    return path


def test_a_latin1_file_is_detected_stored_as_written_and_said_so(shop: Path, tmp_path: Path) -> None:
    path = latin1_file(tmp_path)
    payload = ingest(shop, path)
    assert payload["rows_stored"] == 2
    assert stored_products(shop) == ["café", "crème brûlée"]  # not caf\ufffd
    assert payload["files"][0]["encoding"] == "cp1252" and payload["files"][0]["replaced_rows"] == 0
    assert any("not UTF-8; read as cp1252" in warning for warning in payload["warnings"])
    assert ingest(shop, path)["rows_stored"] == 0  # the same file again adds nothing
    assert (
        ingest(shop, path, "--encoding", "latin-1")["rows_stored"] == 0
    )  # nor the same text named another way


def test_bytes_that_do_not_decode_are_counted_with_their_first_line(shop: Path, tmp_path: Path) -> None:
    path = latin1_file(tmp_path)
    payload = ingest(shop, path, "--encoding", "utf-8")  # the user insists on UTF-8
    assert payload["rows_stored"] == 2 and payload["files"][0]["replaced_rows"] == 2
    (warning,) = [w for w in payload["warnings"] if "U+FFFD" in w]
    assert "2 row(s)" in warning and "first at line 2" in warning and "--encoding" in warning


def test_a_stray_byte_deep_in_a_utf8_file_is_reported(shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "mostly_utf8.csv"
    rows = [
        f"2026-11-20T10:{minute % 60:02d}:{second:02d}Z,view,u{minute},s{minute},p-é-{minute},1\n"
        for minute in range(150)
        for second in range(0, 60, 5)
    ]
    body = (HEADER + "".join(rows)).encode("utf-8")
    body += b"2026-11-21T10:00:00Z,view,u9,s9,caf\xe9,1\n"  # beyond the detection sample
    assert len(body) > 65536
    path.write_bytes(body)
    payload = ingest(shop, path)
    assert payload["files"][0]["encoding"] == "utf-8" and payload["files"][0]["replaced_rows"] == 1
    assert any(f"first at line {len(rows) + 2}" in warning for warning in payload["warnings"])


def test_a_utf16_file_is_read_when_named(shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes((HEADER + "2026-11-20T10:00:00Z,view,u1,s1,café,10\n").encode("utf-16"))
    assert ingest(shop, path, "--encoding", "utf-16")["rows_stored"] == 1
    assert stored_products(shop) == ["café"]


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(shop: Path, tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/events\xff.csv"))
    path.write_text(HEADER + "2026-11-20T10:00:00Z,view,u1,s1,p1,10\n")
    payload = ingest(shop, path)
    assert payload["rows_stored"] == 1
    assert payload["files"][0]["path"].endswith("events\\xff.csv")
    result = runner.invoke(
        app, ["data", "summary", "-w", str(shop), "--json"]
    )  # the store's own records read back
    assert result.exit_code == 0, result.output


def test_a_parquet_file_name_that_is_not_utf8_is_read(shop: Path, tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/events\xfe.parquet"))
    pl.DataFrame(
        {
            "event_time": ["2026-11-20T10:00:00Z"],
            "event_type": ["view"],
            "user_id": ["u1"],
            "session_id": ["s1"],
        }
    ).write_parquet(tmp_path / "plain.parquet")  # polars cannot write such a name either
    os.rename(tmp_path / "plain.parquet", path)
    assert ingest(shop, path)["rows_stored"] == 1


def test_a_duplicate_header_name_is_said(shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(HEADER.strip() + ",price\n2026-11-20T10:00:00Z,view,u1,s1,p1,10,99\n")
    payload = ingest(shop, path)
    assert payload["rows_stored"] == 1
    (warning,) = [w for w in payload["warnings"] if "2 times" in w]
    assert "'price'" in warning and "first one is read" in warning


@pytest.mark.parametrize(
    ("stamps", "layout"),
    [
        (["20/11/2026 10:00", "21/11/2026 11:30"], "%d/%m/%Y %H:%M"),
        (
            ['"Fri, 20 Nov 2026 10:00:00 +0000"', '"Sat, 21 Nov 2026 11:30:00 +0000"'],
            "%a, %d %b %Y %H:%M:%S %z",
        ),
    ],
    ids=["day-first", "rfc2822"],
)
def test_unparseable_times_get_the_time_format_that_reads_them(
    stamps: list[str], layout: str, shop: Path, tmp_path: Path
) -> None:
    path = tmp_path / "times.csv"
    path.write_text(HEADER + "".join(f"{stamp},view,u1,s1,p{i},10\n" for i, stamp in enumerate(stamps)))
    first = ingest(shop, path)
    assert first["rows_stored"] == 0 and first["rows_quarantined"] == 2
    (hint,) = [w for w in first["warnings"] if "--time-format" in w]
    assert f"--time-format '{layout}'" in hint
    again = ingest(shop, path, "--time-format", layout)  # following the hint stores them
    assert again["rows_stored"] == 2 and again["rows_quarantined"] == 0


def test_an_ambiguous_day_month_layout_says_so(shop: Path, tmp_path: Path) -> None:
    path = tmp_path / "ambiguous.csv"
    path.write_text(HEADER + "05/06/2026 10:00,view,u1,s1,p1,10\n07/06/2026 10:00,view,u1,s1,p2,10\n")
    (hint,) = [w for w in ingest(shop, path)["warnings"] if "--time-format" in w]
    assert "month-first or day-first" in hint
