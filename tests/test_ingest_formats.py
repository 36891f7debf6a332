"""The same events load identically from every format; mapping options, time parsing and type fallbacks."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import engine.ingest.readers as readers
from engine.config import SchemaConfig
from engine.errors import InputError
from engine.events import scan_events
from engine.ingest import IngestOptions, ingest_files
from engine.ingest.options import resolve_plan
from engine.ingest.readers import detect_delimiter
from engine.ingest.timeparse import detect_format, parse_times
from engine.workspace import Workspace, init_workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
GENERIC = FIXTURES / "generic.csv"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")[0]


def _write_variant(kind: str, folder: Path) -> Path:
    """The generic fixture re-written as CSV, TSV, semicolon, gzip, Parquet or JSON Lines."""
    frame = pl.read_csv(GENERIC, infer_schema=False)
    if kind == "csv":
        return GENERIC
    if kind in ("tsv", "semicolon"):
        path = folder / ("generic.tsv" if kind == "tsv" else "generic.txt")
        frame.write_csv(path, separator="\t" if kind == "tsv" else ";")
        return path
    if kind == "gzip":
        path = folder / "generic.csv.gz"
        path.write_bytes(gzip.compress(GENERIC.read_bytes()))
        return path
    typed = pl.read_csv(GENERIC)  # native types: floats, ints with nulls
    path = folder / ("generic.parquet" if kind.startswith("parquet") else "generic.jsonl")
    if kind.startswith("parquet"):
        typed.write_parquet(path)
    else:
        typed.write_ndjson(path)
    if kind.endswith("_gzip"):
        packed = path.with_name(path.name + ".gz")
        packed.write_bytes(gzip.compress(path.read_bytes()))
        return packed
    return path


@pytest.mark.parametrize(
    "kind", ["csv", "tsv", "semicolon", "gzip", "parquet", "parquet_gzip", "jsonl", "jsonl_gzip"]
)
@pytest.mark.parametrize("batch_rows", [1_000_000, 3])
def test_every_format_gives_the_same_events(
    kind: str, batch_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "BATCH_ROWS", batch_rows)
    reference_ws = init_workspace(tmp_path / "reference")[0]
    ingest_files(reference_ws, [GENERIC])
    reference = scan_events(reference_ws).sort("event_time", "session_id").collect()
    ws = init_workspace(tmp_path / kind)[0]
    result = ingest_files(ws, [_write_variant(kind, tmp_path)])
    assert (result.rows_read, result.rows_stored, result.rows_duplicate) == (8, 7, 1)
    assert scan_events(ws).sort("event_time", "session_id").collect().equals(reference)


def test_generic_file_canonical_values(ws: Workspace) -> None:
    ingest_files(ws, [GENERIC])
    events = scan_events(ws).sort("event_time", "user_id").collect()
    assert events.schema["event_time"] == pl.Datetime("us", "UTC")
    u2 = events.filter(pl.col("user_id") == "u2")
    assert u2["event_time"][0] == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)  # 11:00+01:00
    assert u2["session_id"].to_list() == [
        "u2#1709287200000000",
        "u2#1709287200000000",
        "u2#1709366400000000",
    ]
    assert u2["event_type"].to_list()[-1] == "other" and u2["event_name"].to_list()[-1] == "addtocart"
    assert events.filter(pl.col("user_id") == "u1")["session_id"].unique().to_list() == ["s1"]
    assert set(events["channel"].drop_nulls()) == {"search", "email", "direct"}


def test_command_line_mapping_overrides(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("when|who|what|source\n1709287200|a|basket|ads\n1709287260|a|buy|ads\n")
    options = IngestOptions(
        columns={"event_time": "when", "user_id": "who", "event_type": "what"},
        events={"basket": "cart", "buy": "purchase"},
        dimensions={"channel": "source"},
        time_format="epoch_s",
        delimiter="pipe",
    )
    result = ingest_files(ws, [path], options)
    assert result.rows_stored == 2
    events = scan_events(ws).sort("event_time").collect()
    assert events["event_type"].to_list() == ["cart", "purchase"]
    assert events["channel"].to_list() == ["ads", "ads"]
    assert events["event_time"][0] == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_unmapped_quarantine_sets_unknown_events_aside(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("event_time,event_type,user_id\n2024-01-01 10:00,view,a\n2024-01-01 10:01,wishlist,a\n")
    result = ingest_files(ws, [path], IngestOptions(unmapped="quarantine"))
    assert result.quarantine_reasons == {"unknown event name": 1}
    assert pl.read_parquet(result.quarantine_file)["event_type"].to_list() == ["wishlist"]


def test_integer_then_decimal_column_loads(ws: Workspace, tmp_path: Path) -> None:
    rows = [f"2024-01-01 10:{i // 60:02d}:{i % 60:02d},view,u{i},{i}" for i in range(150)]
    rows += [f"2024-01-01 11:00:{i:02d},purchase,u{i},{i}.75" for i in range(5)]
    path = tmp_path / "prices.csv"
    path.write_text("event_time,event_type,user_id,price\n" + "\n".join(rows) + "\n")
    result = ingest_files(ws, [path])
    assert (result.rows_stored, result.rows_quarantined) == (155, 0)
    prices = scan_events(ws).filter(pl.col("event_type") == "purchase").sort("event_time").collect()["price"]
    assert prices.to_list() == [0.75, 1.75, 2.75, 3.75, 4.75]


def test_bad_values_are_quarantined_with_file_line_and_reason(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "event_time,event_type,user_id,price,quantity\n"
        "2024-01-01 10:00,view,a,1.5,1\n"
        ",view,a,1,1\n"
        "yesterday,view,a,1,1\n"
        "2024-01-01 10:00,,a,1,1\n"
        "2024-01-01 10:00,view,a,abc,1\n"
        "2024-01-01 10:00,view,a,-3,1\n"
        "2024-01-01 10:00,view,a,1,1.5\n"
        "1999-12-31 23:59,view,a,1,1\n"
    )
    result = ingest_files(ws, [path])
    assert result.rows_read == 8 and result.rows_stored == 1 and result.rows_quarantined == 7
    quarantine = pl.read_parquet(result.quarantine_file).sort("_line")
    assert quarantine["_reason"].to_list() == [
        "missing event_time",
        "unparseable event_time",
        "missing event name",
        "unparseable price",
        "negative price",
        "unparseable quantity",
        "implausible event_time",
    ]
    assert quarantine["_line"].to_list() == [3, 4, 5, 6, 7, 8, 9]
    assert set(quarantine["_file"]) == {str(path)}
    assert quarantine.filter(pl.col("_line") == 6)["price"].to_list() == ["abc"]  # original value kept


def test_session_gap_option(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("event_time,event_type,user_id\n2024-01-01 10:00,view,a\n2024-01-01 10:10,view,a\n")
    ingest_files(ws, [path], IngestOptions(session_gap_minutes=5))
    assert scan_events(ws).collect()["session_id"].n_unique() == 2


def test_invalid_options_are_input_errors(ws: Workspace) -> None:
    with pytest.raises(InputError, match="unknown preset 'nope'"):
        ingest_files(ws, [GENERIC], IngestOptions(preset="nope"))
    with pytest.raises(InputError, match="unknown time zone 'Mars/Base'"):
        ingest_files(ws, [GENERIC], IngestOptions(time_zone="Mars/Base"))
    with pytest.raises(InputError, match="unknown canonical column 'when'"):
        ingest_files(ws, [GENERIC], IngestOptions(columns={"when": "event_time"}))
    with pytest.raises(InputError, match="maps event 'x' to 'basket'"):
        ingest_files(ws, [GENERIC], IngestOptions(events={"x": "basket"}))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2019-10-01 00:00:03 UTC", "2019-10-01 00:00:04 UTC"], "iso"),
        (["1433221332117", "1433224214164"], "epoch_ms"),
        (["1511544070", "0"], "epoch_s"),
        (["19970101", "19970102"], "yyyymmdd"),
    ],
)
def test_time_format_detection(values: list[str], expected: str) -> None:
    assert detect_format(pl.Series(values)) == expected


def test_parse_times_zones_offsets_and_failures() -> None:
    parsed = parse_times(
        pl.Series(
            ["2024-07-01T12:00:00+02:00", "2024-07-01 12:00", "2024-07-01T10:00:00.250Z", "soon", None]
        ),
        time_zone="Europe/Berlin",
    )
    assert parsed.to_list() == [
        datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 10, 0, tzinfo=UTC),  # naive, read in Berlin summer time
        datetime(2024, 7, 1, 10, 0, 0, 250000, tzinfo=UTC),
        None,
        None,
    ]
    custom = parse_times(pl.Series(["31/12/2023 23:30"]), time_format="%d/%m/%Y %H:%M")
    assert custom.to_list() == [datetime(2023, 12, 31, 23, 30, tzinfo=UTC)]


def test_delimiter_detection() -> None:
    assert detect_delimiter("a;b;c") == ";"
    assert detect_delimiter("a\tb\tc") == "\t"
    assert detect_delimiter("a,b") == ","
    assert detect_delimiter("single") == ","


def test_batched_reading_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole_ws = init_workspace(tmp_path / "whole")[0]
    whole = ingest_files(whole_ws, [FIXTURES / "online_retail_ii.csv"], IngestOptions(preset="online_retail"))
    monkeypatch.setattr(readers, "BATCH_ROWS", 2)
    chunked_ws = init_workspace(tmp_path / "chunked")[0]
    chunked = ingest_files(
        chunked_ws, [FIXTURES / "online_retail_ii.csv"], IngestOptions(preset="online_retail")
    )
    assert (chunked.rows_stored, chunked.quarantine_reasons) == (whole.rows_stored, whole.quarantine_reasons)
    order = ["event_time", "product_id", "order_id"]
    assert scan_events(chunked_ws).sort(order).collect().equals(scan_events(whole_ws).sort(order).collect())


def test_canonical_file_keeps_type_and_raw_name_apart(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "canonical.csv"
    path.write_text(
        "event_time,event_type,event_name,user_id,session_id\n"
        "2024-01-01 10:00,cart,add_to_basket,a,s1\n"
        "2024-01-01 10:01,purchase,,a,s1\n"
    )
    ingest_files(ws, [path])
    events = scan_events(ws).sort("event_time").collect()
    assert events["event_type"].to_list() == ["cart", "purchase"]
    assert events["event_name"].to_list() == ["add_to_basket", "purchase"]


def test_precedence_option_over_config_over_preset() -> None:
    default = resolve_plan(SchemaConfig(), IngestOptions(preset="online_retail"))
    assert default.time_zone == "Europe/London" and default.dimensions["country"] == "Country"
    configured = SchemaConfig(time_zone="Europe/Dublin", dimensions={"country": "Land"})
    from_config = resolve_plan(configured, IngestOptions(preset="online_retail"))
    assert from_config.time_zone == "Europe/Dublin" and from_config.dimensions["country"] == "Land"
    from_option = resolve_plan(configured, IngestOptions(preset="online_retail", time_zone="UTC"))
    assert from_option.time_zone == "UTC"
