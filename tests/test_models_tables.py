"""Loading training tables: boolean-like targets, column type detection and its config overrides."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from engine.config import TrainingConfig
from engine.errors import InputError
from models.tables import detect_spec, load_table, parse_target


@pytest.mark.parametrize(
    "values",
    [
        ["TRUE", "FALSE", "true", None],
        ["yes", "no", "Yes", None],
        ["1", "0", " 1 ", None],
        ["Y", "N", "y", None],
        ["t", "f", "T", None],
    ],
)
def test_boolean_like_strings_parse_to_int8(values: list[str | None]) -> None:
    parsed, task = parse_target(pl.Series("label", values))
    assert task == "binary"
    assert parsed.dtype == pl.Int8
    assert parsed.to_list() == [1, 0, 1, None]


def test_boolean_and_zero_one_numbers_are_binary() -> None:
    assert parse_target(pl.Series("y", [True, False]))[0].to_list() == [1, 0]
    parsed, task = parse_target(pl.Series("y", [1.0, 0.0, 1.0]))
    assert task == "binary" and parsed.to_list() == [1, 0, 1]


def test_other_numbers_are_regression() -> None:
    parsed, task = parse_target(pl.Series("spend", [0, 12, 3]))
    assert task == "regression" and parsed.dtype == pl.Float64
    parsed, task = parse_target(pl.Series("spend", ["1.5", "0", "7"]))
    assert task == "regression" and parsed.to_list() == [1.5, 0.0, 7.0]


def test_unparseable_target_names_column_and_fix() -> None:
    with pytest.raises(InputError, match=r"column 'label'.*map it to 1/0"):
        parse_target(pl.Series("label", ["bought", "left", "bought"]))


def _frame() -> pl.DataFrame:
    rows = 300
    return pl.DataFrame(
        {
            "visits": list(range(rows)),  # an integer count: numeric
            "duration": [float(i) * 1.5 for i in range(rows)],
            "TrafficType": [i % 7 + 1 for i in range(rows)],  # integer code by its name: categorical
            "OperatingSystems": [i % 3 + 1 for i in range(rows)],
            "Month": ["Feb", "Mar", "May"] * 100,
            "Weekend": [True, False, False] * 100,
            "session_key": [f"s{i}" for i in range(rows)],  # unique strings: an identifier, ignored
            "started": [datetime(2024, 1, 1 + i % 28) for i in range(rows)],
            "label": [i % 2 for i in range(rows)],
        }
    )


def test_detection_rules() -> None:
    spec = detect_spec(_frame(), "label", TrainingConfig(), "binary")
    assert spec.numeric == ("visits", "duration")
    assert spec.categorical == ("TrafficType", "OperatingSystems", "Month", "Weekend")
    assert spec.id_columns == ("session_key",)
    assert spec.time_column == "started"
    assert spec.target == "label" and "label" not in spec.features


def test_config_overrides_win() -> None:
    config = TrainingConfig(
        numeric_columns=["TrafficType"], categorical_columns=["visits"], ignore_columns=["duration", "Month"]
    )
    spec = detect_spec(_frame(), "label", config, "binary")
    assert spec.numeric == ("TrafficType",)
    assert spec.categorical == ("visits", "OperatingSystems", "Weekend")


def test_override_naming_a_missing_column_is_an_error() -> None:
    with pytest.raises(InputError, match=r"numeric_columns names 'nope'"):
        detect_spec(_frame(), "label", TrainingConfig(numeric_columns=["nope"]), "binary")


def test_string_column_forced_numeric_is_an_error() -> None:
    with pytest.raises(InputError, match=r"'Month'.*categorical_columns"):
        detect_spec(_frame(), "label", TrainingConfig(numeric_columns=["Month"]), "binary")


def test_load_table_csv_and_parquet(tmp_path: Path) -> None:
    frame = _frame().with_columns(
        pl.when(pl.col("label") == 1).then(pl.lit("TRUE")).otherwise(pl.lit("FALSE"))
    )
    frame = frame.with_columns(pl.col("literal").alias("Revenue")).drop("literal", "label")
    csv_path = tmp_path / "table.csv"
    frame.write_csv(csv_path)
    loaded, spec = load_table(csv_path, "Revenue", TrainingConfig())
    assert spec.task == "binary" and loaded["Revenue"].dtype == pl.Int8
    assert loaded["Revenue"].sum() == 150
    parquet_path = tmp_path / "table.parquet"
    frame.write_parquet(parquet_path)
    assert load_table(parquet_path, "Revenue", TrainingConfig())[1] == spec


def test_missing_target_column_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"t.csv: no target column 'label'; columns are: a, b"):
        load_table(path, "label", TrainingConfig())


def test_empty_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,label\n")
    with pytest.raises(InputError, match="no rows"):
        load_table(path, "label", TrainingConfig())
    with pytest.raises(InputError, match="no such file"):
        load_table(tmp_path / "absent.csv", "label", TrainingConfig())
