"""Writing simulations: every format reads back to the same events, and `shopctl simulate` wraps it."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import InputError
from engine.simulator import simulate, write_simulation

runner = CliRunner()


@pytest.fixture(scope="module")
def small():
    return simulate(4, seed=5, scenario="price_change", start=date(2026, 1, 5), sessions_per_day=80)


def _read_back(path: Path, fmt: str) -> pl.DataFrame:
    if fmt == "parquet":
        return pl.read_parquet(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if fmt == "jsonl":
        frame = pl.read_ndjson(raw, infer_schema_length=None)
    else:
        frame = pl.read_csv(raw, separator="\t" if fmt == "tsv" else ",", infer_schema_length=None)
    return frame.with_columns(
        pl.col("event_time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC"),
        pl.col("price").cast(pl.Float64),
        pl.col("quantity").cast(pl.Int64),
    )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("e.csv", "csv"),
        ("e.tsv.gz", "tsv"),
        ("e.parquet", "parquet"),
        ("e.jsonl.gz", "jsonl"),
        ("e.jsonl", "jsonl"),
    ],
)
def test_every_format_round_trips(tmp_path: Path, small, name: str, fmt: str) -> None:
    target = tmp_path / name
    written = write_simulation(small, target)
    assert written["format"] == fmt and written["rows"] == small.events.height
    assert written["compressed"] == name.endswith(".gz")
    back = _read_back(target, fmt).select(small.events.columns)
    assert back.equals(
        small.events.with_columns(pl.col(c).cast(back.schema[c]) for c in small.events.columns)
    )
    truth = json.loads((tmp_path / f"{name}.truth.json").read_text())
    assert truth == json.loads(json.dumps(small.ground_truth))
    if fmt != "parquet":
        first_line = gzip.open(target, "rt").readline() if name.endswith(".gz") else target.open().readline()
        assert "event_time" in first_line or first_line.startswith('{"event_time":"20')


def test_text_times_are_iso_utc_with_z(tmp_path: Path, small) -> None:
    write_simulation(small, tmp_path / "e.csv")
    second_line = (tmp_path / "e.csv").read_text().splitlines()[1]
    assert second_line.split(",")[0].endswith("Z") and "T" in second_line.split(",")[0]


def test_format_errors_name_the_fix(tmp_path: Path, small) -> None:
    with pytest.raises(InputError, match="--format"):
        write_simulation(small, tmp_path / "events.data")
    with pytest.raises(InputError, match="drop the .gz"):
        write_simulation(small, tmp_path / "events.parquet.gz")
    with pytest.raises(InputError, match="unknown"):
        write_simulation(small, tmp_path / "events.csv", fmt="xlsx")
    written = write_simulation(small, tmp_path / "events.data", fmt="csv")
    assert written["format"] == "csv" and (tmp_path / "events.data").stat().st_size > 0


def test_cli_simulate_writes_events_and_truth(tmp_path: Path) -> None:
    target = tmp_path / "sim" / "events.parquet"
    result = runner.invoke(
        app,
        [
            "simulate", "--days", "6", "--out", str(target), "--scenario", "checkout_outage",
            "--sessions-per-day", "60", "--start", "2026-02-02", "--scenario-day", "2026-02-05",
            "--seed", "9", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ground_truth"]["change_day"] == "2026-02-05"
    assert payload["ground_truth"]["segment"] == {"device": "mobile"}
    frame = pl.read_parquet(target)
    assert frame.height == payload["rows"] > 0
    assert frame["event_time"].min().date() == date(2026, 2, 2)
    assert Path(payload["truth"]).exists()
    again = simulate(
        6,
        seed=9,
        scenario="checkout_outage",
        start="2026-02-02",
        sessions_per_day=60,
        scenario_day="2026-02-05",
    )
    assert frame.equals(again.events)


def test_cli_simulate_bad_scenario_is_one_line_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--days", "3", "--out", str(tmp_path / "e.csv"), "--scenario", "flood"]
    )
    assert result.exit_code == 2
    assert "flood" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "e.csv").exists()
