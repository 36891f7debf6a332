"""Scoring: parity with scikit-learn, every file format, stdin/stdout, bad inputs, threads, no sklearn at runtime."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_scoring_models import fit_logistic, make_table, register_logistic, sklearn_frame
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import InputError, NotFoundError
from engine.scoring import load_model, score_file
from engine.workspace import Workspace, init_workspace

runner = CliRunner()
WRITERS = {"parquet": "write_parquet", "csv": "write_csv", "jsonl": "write_ndjson"}
READERS = {"parquet": pl.read_parquet, "csv": pl.read_csv, "jsonl": pl.read_ndjson}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = init_workspace(tmp_path_factory.mktemp("scoring") / "ws")[0]
    register_logistic(ws)
    return ws


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def expected(table: pl.DataFrame) -> np.ndarray:
    return fit_logistic(table).predict_proba(sklearn_frame(table))[:, 1]


def test_predict_matches_sklearn_for_frames_rows_and_single_dicts(workspace, table, expected) -> None:
    model = load_model(workspace, "conversion")
    assert np.abs(model.predict(table) - expected).max() < 1e-5
    assert np.abs(model.predict(table.to_dicts()) - expected).max() < 1e-5
    single = model.predict(table.row(3, named=True))
    assert single.shape == (1,) and abs(single[0] - expected[3]) < 1e-5
    assert load_model(workspace, "conversion") is model  # one session, reused


def test_unknown_category_and_nulls_score_like_sklearn(workspace, table) -> None:
    pipeline = fit_logistic(table)
    rows = [
        {"pages": 3, "seconds": None, "device": "smart-tv", "channel": "email"},
        {"pages": None, "seconds": 12.5, "device": None, "channel": "ads"},
    ]
    frame = pl.DataFrame(
        rows, schema={"pages": pl.Float64, "seconds": pl.Float64, "device": pl.String, "channel": pl.String}
    )
    reference = pipeline.predict_proba(sklearn_frame(frame))[:, 1]
    model = load_model(workspace, "conversion")
    assert np.abs(model.predict(rows) - reference).max() < 1e-5
    assert np.abs(model.predict(frame) - reference).max() < 1e-5


def test_predict_is_thread_safe(workspace, table, expected) -> None:
    model = load_model(workspace, "conversion")
    rows = table.to_dicts()
    slices = [(start, start + 7) for start in range(0, len(rows), 7)] * 4

    def score(bounds: tuple[int, int]) -> np.ndarray:
        start, stop = bounds
        if start % 2:
            return model.predict(rows[start:stop])
        return model.predict(table.slice(start, stop - start))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(score, slices))
    for (start, stop), scores in zip(slices, results, strict=True):
        assert np.abs(scores - expected[start:stop]).max() < 1e-5


def test_predict_rejects_missing_and_mistyped_values(workspace) -> None:
    model = load_model(workspace, "conversion")
    with pytest.raises(InputError, match="row 0 lacks column 'channel'"):
        model.predict({"pages": 1, "seconds": 2, "device": "mobile"})
    with pytest.raises(InputError, match="column 'pages' is 'many', expected a number"):
        model.predict({"pages": "many", "seconds": 2, "device": "mobile", "channel": "ads"})


@pytest.mark.parametrize("in_fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("out_fmt", ["parquet", "csv", "jsonl"])
def test_score_file_every_format(workspace, table, expected, tmp_path, in_fmt, out_fmt) -> None:
    source = tmp_path / f"batch.{in_fmt}"
    getattr(table.drop("converted"), WRITERS[in_fmt])(source)
    target = tmp_path / f"scores.{out_fmt}"
    result = score_file(workspace, "conversion", source, target, chunk_rows=64)
    assert (result["rows"], result["chunks"], result["model"], result["version"]) == (400, 7, "conversion", 1)
    scored = READERS[out_fmt](target)
    assert scored.columns == ["session_id", "score", "model", "model_version"]
    assert scored["session_id"].to_list() == table["session_id"].to_list()
    assert np.abs(scored["score"].to_numpy() - expected).max() < 1e-5
    assert set(scored["model_version"].to_list()) == {1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_scores_stdin_to_stdout(workspace, table, expected) -> None:
    payload = table.drop("converted").write_csv().encode()
    result = runner.invoke(
        app,
        ["score", "conversion", "--input", "-", "--output", "-", "--json", "-w", str(workspace.root)],
        input=payload,
    )
    assert result.exit_code == 0, result.stderr
    scored = pl.read_csv(io.BytesIO(result.stdout_bytes))
    assert scored.height == 400 and np.abs(scored["score"].to_numpy() - expected).max() < 1e-5
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["rows"] == 400 and summary["version"] == 1
    parquet_in = io.BytesIO()
    table.write_parquet(parquet_in)
    as_parquet = runner.invoke(
        app,
        ["score", "conversion", "-i", "-", "-o", "-", "-f", "parquet", "-w", str(workspace.root)],
        input=parquet_in.getvalue(),
    )
    assert as_parquet.exit_code == 0, as_parquet.stderr
    assert pl.read_parquet(io.BytesIO(as_parquet.stdout_bytes)).height == 400
    # An unknown --format is named as such, before stdin is read as something it is not.
    bad = runner.invoke(
        app,
        ["score", "conversion", "-i", "-", "-o", "-", "-f", "xml", "-w", str(workspace.root)],
        input=payload,
    )
    assert (
        bad.exit_code == 2
        and bad.stderr.strip() == "error: unknown format 'xml'; use one of parquet, csv, jsonl"
    )


def test_cli_json_reports_throughput(workspace, table, tmp_path) -> None:
    source = tmp_path / "batch.parquet"
    table.write_parquet(source)
    result = runner.invoke(
        app,
        [
            "score",
            "conversion",
            "-i",
            str(source),
            "-o",
            str(tmp_path / "out.csv"),
            "--version",
            "1",
            "--json",
            "-w",
            str(workspace.root),
        ],
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {"rows", "seconds", "rows_per_second", "model", "version"} <= set(payload)
    assert payload["rows"] == 400 and payload["format"] == "csv"
    # The time inside the model (feeds + session) is reported apart from reading and writing.
    assert 0 < payload["model_seconds"] <= payload["seconds"]


def _bad_inputs(table: pl.DataFrame, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    cases: dict[str, tuple[Path, str]] = {}
    missing = tmp_path / "missing.parquet"
    table.drop("channel", "pages").write_parquet(missing)
    cases["missing"] = (missing, "lacks columns 'pages', 'channel'")
    mistyped = tmp_path / "mistyped.parquet"
    table.with_columns(pl.col("pages").cast(pl.String) + "p").write_parquet(mistyped)
    cases["mistyped parquet"] = (mistyped, "'pages' is String, expected numbers")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("session_id,pages,seconds,device,channel\ns1,3,1.5,mobile,ads\ns2,lots,2,mobile,ads\n")
    cases["mistyped csv"] = (bad_csv, "pages")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases["empty"] = (empty, "the file is empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text("session_id,pages,seconds,device,channel\n")
    cases["no rows"] = (header_only, "has no rows")
    cases["absent"] = (tmp_path / "nope.parquet", "no such file")
    return cases


def test_bad_inputs_exit_2_with_one_line(workspace, table, tmp_path) -> None:
    for case, (path, fragment) in _bad_inputs(table, tmp_path).items():
        target = tmp_path / "out.parquet"
        result = runner.invoke(
            app, ["score", "conversion", "-i", str(path), "-o", str(target), "-w", str(workspace.root)]
        )
        assert result.exit_code == 2, (case, result.stderr)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (case, result.stderr)
        assert fragment in result.stderr, (case, result.stderr)
        assert not target.exists(), case
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_model_or_version(workspace, table, tmp_path) -> None:
    source = tmp_path / "batch.parquet"
    table.write_parquet(source)
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        score_file(workspace, "churn", source, tmp_path / "o.parquet")
    result = runner.invoke(
        app,
        ["score", "conversion", "-i", str(source), "-o", "-", "--version", "9", "-w", str(workspace.root)],
    )
    assert result.exit_code == 2 and "no version 9" in result.stderr and result.stdout == ""


def test_keep_and_row_numbers(workspace, table, tmp_path) -> None:
    source = tmp_path / "batch.parquet"
    table.drop("session_id").write_parquet(source)
    score_file(workspace, "conversion", source, tmp_path / "rows.parquet", chunk_rows=50)
    assert pl.read_parquet(tmp_path / "rows.parquet")["row_number"].to_list() == list(range(400))
    score_file(workspace, "conversion", source, tmp_path / "kept.parquet", keep=["device"])
    assert pl.read_parquet(tmp_path / "kept.parquet").columns[0] == "device"


def test_scoring_never_imports_scikit_learn(workspace, table, tmp_path) -> None:
    source = tmp_path / "batch.parquet"
    table.write_parquet(source)
    script = (
        "import sys, json\n"
        "from engine.workspace import open_workspace\n"
        "from engine.scoring import load_model, score_file\n"
        f"ws = open_workspace({str(workspace.root)!r})\n"
        "model = load_model(ws, 'conversion')\n"
        "model.predict([{'pages': 1, 'seconds': 2.0, 'device': 'mobile', 'channel': 'ads'}])\n"
        f"score_file(ws, 'conversion', {str(source)!r}, {str(tmp_path / 'o.jsonl')!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'skl2onnx', 'pickle'})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "sklearn" not in loaded and "skl2onnx" not in loaded, loaded


def test_failure_mid_stream_leaves_no_output(workspace, table, tmp_path) -> None:
    lines = table.drop("converted").write_csv().splitlines()
    lines[351] = lines[351].replace(lines[351].split(",")[1], "oops", 1)
    source = tmp_path / "late-error.csv"
    source.write_text("\n".join(lines) + "\n")
    target = tmp_path / "scores.parquet"
    with pytest.raises(InputError, match="oops"):
        score_file(workspace, "conversion", source, target, chunk_rows=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late-error.csv"]


def test_unusual_suffix_is_sniffed_and_gzip_is_read(workspace, table, expected, tmp_path) -> None:
    import gzip

    export = tmp_path / "export.dat"
    table.write_parquet(export)
    compressed = tmp_path / "batch.csv.gz"
    compressed.write_bytes(gzip.compress(table.write_csv().encode()))
    for source in (export, compressed):
        score_file(workspace, "conversion", source, tmp_path / "out.jsonl")
        assert np.abs(pl.read_ndjson(tmp_path / "out.jsonl")["score"].to_numpy() - expected).max() < 1e-5


def test_chunks_are_scored_in_parallel_parts_in_order(workspace, table, expected, tmp_path) -> None:
    from engine.scoring.stream import MIN_PART_ROWS, split_chunk

    big = pl.concat([table.drop("converted")] * 100).with_row_index("row")  # 40,000 rows
    assert [part.height for part in split_chunk(big.head(2 * MIN_PART_ROWS + 1), 2)] == [8193, 8193 - 1]
    assert [part.height for part in split_chunk(big.head(MIN_PART_ROWS), 2)] == [
        MIN_PART_ROWS
    ]  # too few to cut
    assert sum(part.height for part in split_chunk(big, 3)) == big.height
    source = tmp_path / "big.parquet"
    big.write_parquet(source)
    scores = {}
    for threads in (1, 2):
        target = tmp_path / f"scores-{threads}.parquet"
        result = score_file(
            workspace, "conversion", source, target, chunk_rows=20_000, keep=["row"], threads=threads
        )
        assert (result["rows"], result["chunks"]) == (40_000, 2)
        scored = pl.read_parquet(target)
        assert scored["row"].to_list() == list(range(40_000))  # parts reassembled in order
        scores[threads] = scored["score"].to_numpy()
    assert np.abs(scores[2] - np.tile(expected, 100)).max() < 1e-5
    assert np.abs(scores[1] - scores[2]).max() < 1e-6


def test_read_ahead_keeps_order_and_raises_in_place() -> None:
    from engine.infra.prefetch import read_ahead

    def chunks():
        for index in range(3):
            yield pl.DataFrame({"i": [index]})
        raise OSError("disk went away")

    seen = []
    with pytest.raises(OSError, match="disk went away"):
        for chunk in read_ahead(chunks()):
            seen.append(chunk["i"].item())
    assert seen == [0, 1, 2]
