"""Every preset on small fixture files, in the formats users bring them in (CSV, TSV, semicolon, gzip, Parquet,
JSON Lines)."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from engine.events import scan_events
from engine.ingest import IngestOptions, ingest_files
from engine.workspace import Workspace, init_workspace

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")[0]


def _events(ws: Workspace) -> pl.DataFrame:
    return scan_events(ws).sort(["event_time", "product_id"]).collect()


def _gzip(source: Path, target: Path) -> Path:
    with open(source, "rb") as plain, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    return target


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_rees46_csv_drops_duplicates_and_falls_back_to_category_id(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "rees46.csv"], IngestOptions(preset="rees46"))
    assert (result.rows_read, result.rows_stored, result.rows_duplicate, result.rows_quarantined) == (
        8,
        7,
        1,
        0,
    )
    events = _events(ws)
    first = events.row(0, named=True)
    assert first["event_time"] == _utc(2019, 10, 1, 0, 0, 0)
    assert first["category"] == "2103807459595387724"  # category_code empty -> category_id
    assert events["category"][1] == "appliances.environment.water_heater"
    assert events["event_type"].to_list() == [
        "view",
        "view",
        "cart",
        "remove_from_cart",
        "cart",
        "purchase",
        "view",
    ]
    assert events["session_id"][0] == "72d76fde-8bb3-4e00-8c23-a032dfed738c"  # user_session kept by default


def test_rees46_resessionize_derives_sessions_from_the_gap(ws: Workspace) -> None:
    ingest_files(ws, [FIXTURES / "rees46.csv"], IngestOptions(preset="rees46", resessionize=True))
    sessions = _events(ws)["session_id"].to_list()
    assert sessions[0] == "541312140#1569888000000000"  # user # start in epoch microseconds
    assert sessions[-1] == "541312140#1570006800000000"  # same user, next day: a new session


def test_retailrocket_gzip_epoch_ms_and_gap_sessions(ws: Workspace, tmp_path: Path) -> None:
    packed = _gzip(FIXTURES / "retailrocket.csv", tmp_path / "events.csv.gz")
    result = ingest_files(ws, [packed], IngestOptions(preset="retailrocket"))
    assert result.files[0]["compressed"] is True
    assert result.rows_stored == 6
    events = _events(ws)
    visitor = events.filter(pl.col("user_id") == "111016")
    assert visitor["event_type"].to_list() == ["view", "cart", "purchase", "view"]
    assert visitor["event_name"].to_list() == ["view", "addtocart", "transaction", "view"]
    assert visitor["order_id"].to_list() == [None, None, "4000", None]
    assert visitor["event_time"][0] == _utc(2015, 6, 2, 5, 13, 19, 827000)
    assert visitor["session_id"].n_unique() == 2  # the last view is almost a day later
    assert events["price"].null_count() == events.height


def test_retailrocket_gzip_detected_by_magic_bytes_without_gz_suffix(ws: Workspace, tmp_path: Path) -> None:
    packed = _gzip(FIXTURES / "retailrocket.csv", tmp_path / "events.csv")
    result = ingest_files(ws, [packed], IngestOptions(preset="retailrocket"))
    assert result.files[0]["compressed"] is True and result.rows_stored == 6


def test_online_retail_ii_semicolon_cancellations_and_local_time(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "online_retail_ii.csv"], IngestOptions(preset="online_retail"))
    assert result.files[0]["delimiter"] == ";"
    assert result.quarantine_reasons == {"negative price": 1}  # the bad-debt adjustment
    events = _events(ws)
    cancellation = events.filter(pl.col("order_id") == "C489449").row(0, named=True)
    assert (cancellation["event_type"], cancellation["event_name"], cancellation["quantity"]) == (
        "other",
        "cancellation",
        -12,
    )
    assert cancellation["country"] == "Australia"
    ball = events.filter(pl.col("product_id") == "85048").row(0, named=True)
    assert ball["user_id"] == "13085"  # "13085.0" from a float export
    assert ball["price"] == pytest.approx(6.95)  # decimal comma
    summer = events.filter(pl.col("order_id") == "500001")["event_time"][0]
    assert summer == _utc(2010, 6, 1, 11, 0)  # 12:00 in London (BST) is 11:00 UTC
    anonymous = events.filter(pl.col("order_id") == "489436").row(0, named=True)
    assert anonymous["user_id"] is None and anonymous["session_id"].startswith("order:489436#")
    adjustment = events.filter(pl.col("order_id") == "A563187").row(0, named=True)
    assert (adjustment["event_type"], adjustment["event_name"]) == ("other", "adjustment")


def test_online_retail_i_tsv_column_names_and_us_dates(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "online_retail_i.tsv"], IngestOptions(preset="online_retail"))
    assert result.files[0]["delimiter"] == "\t" and result.rows_stored == 4
    events = _events(ws)
    assert events["event_time"][0] == _utc(2010, 12, 1, 8, 26)
    assert events.filter(pl.col("order_id") == "C536379")["event_name"].to_list() == ["cancellation"]
    assert set(events["country"]) == {"United Kingdom", "France"}
    assert events.filter(pl.col("product_id") == "85123A")["price"].to_list() == [2.55]


def test_taobao_headerless_quarantines_stray_timestamps(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "taobao.csv"], IngestOptions(preset="taobao"))
    assert result.files[0]["has_header"] is False
    assert result.quarantine_reasons == {"implausible event_time": 2}
    quarantine = pl.read_parquet(result.quarantine_file)
    assert quarantine["_line"].to_list() == [7, 8]
    assert quarantine["timestamp"].to_list() == ["0", "2145916800"]
    events = _events(ws)
    assert events["event_type"].to_list() == ["view", "view", "view", "cart", "other", "purchase"]
    assert events.filter(pl.col("event_name") == "fav")["event_type"].to_list() == ["other"]
    assert events["event_time"][0] == _utc(2017, 11, 24, 17, 21, 10)
    assert events.filter(pl.col("user_id") == "1")["session_id"].n_unique() == 1


def test_transactions_jsonl_amount_is_the_row_total(ws: Workspace) -> None:
    result = ingest_files(ws, [FIXTURES / "transactions.jsonl"], IngestOptions(preset="transactions"))
    assert result.rows_stored == 4
    events = _events(ws)
    assert set(events["event_type"]) == {"purchase"}
    assert events["user_id"].to_list() == ["00001", "00003", "00002", "00002"]  # leading zeros kept
    revenue = (events["price"] * events["quantity"]).to_list()
    assert revenue == pytest.approx([11.0, 20.76, 12.0, 77.25])
    assert events["event_time"][0] == _utc(1997, 1, 1)


def test_parquet_input_with_native_types(ws: Workspace, tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURES / "rees46.csv").with_columns(
        pl.col("event_time").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S UTC")
    )
    assert frame["user_id"].dtype == pl.Int64 and frame["price"].dtype == pl.Float64
    path = tmp_path / "rees46.parquet"
    frame.write_parquet(path)
    result = ingest_files(ws, [path], IngestOptions(preset="rees46"))
    assert result.files[0]["format"] == "parquet"
    parquet_events = _events(ws)
    other = init_workspace(tmp_path / "other")[0]
    ingest_files(other, [FIXTURES / "rees46.csv"], IngestOptions(preset="rees46"))
    assert parquet_events.equals(_events(other))


def test_transactions_headerless_log_names_its_columns_from_the_values(ws: Workspace) -> None:
    """CDNOW's own sample comes without a header: customer, a second id, date, CDs, dollars."""
    from engine.ingest.readers import WHITESPACE, guess_transaction_columns

    result = ingest_files(
        ws, [FIXTURES / "transactions_headerless.txt"], IngestOptions(preset="transactions")
    )
    assert result.rows_stored == 4 and result.rows_quarantined == 0
    assert result.files[0]["has_header"] is False
    events = scan_events(ws).sort("event_time").collect()
    assert events["user_id"].to_list() == ["00007", "00012", "00031", "00007"]
    assert events["quantity"].to_list() == [2, 3, 1, 1]
    assert events["price"].to_list() == pytest.approx([12.99, 41.50 / 3, 9.99, 12.99])  # amount / quantity
    assert guess_transaction_columns("00007 0001 19970103 2 25.98", WHITESPACE) == (
        "customer_id", "column_2", "date", "quantity", "amount"
    )  # fmt: skip
    assert guess_transaction_columns("c1,2026-01-05,19.5", ",") == ("customer_id", "date", "amount")
    assert guess_transaction_columns("customer_id,date,amount", ",") is None  # a header stays a header
    assert guess_transaction_columns("c1,hello,19.5", ",") is None  # not all data: not guessed
