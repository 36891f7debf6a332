"""`shopctl train recommendations` and `shopctl recommend` end to end on a small simulated shop, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.registry import Registry
from engine.simulator import simulate
from engine.workspace import Workspace, init_workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("recs") / "shop"
    init_workspace(root)
    config = root / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(
        r'^candidates = \["popularity", "trending".*$',
        'candidates = ["popularity", "itemknn", "content", "fused"]',
        text,
        flags=re.M,
    )
    config.write_text(text, encoding="utf-8")
    events = simulate(24, seed=3, sessions_per_day=300, start="2026-03-01").events
    path = root.parent / "events.parquet"
    events.write_parquet(path)
    assert runner.invoke(app, ["ingest", str(path), "-w", str(root)]).exit_code == 0
    result = runner.invoke(app, ["train", "recommendations", "-w", str(root), "--json"])
    assert result.exit_code == 0, result.output
    (root.parent / "train.json").write_text(result.stdout)
    return Workspace(root)


def _payload(shop: Workspace) -> dict:
    return json.loads((shop.root.parent / "train.json").read_text())


def test_train_registers_the_best_on_validation(shop: Workspace) -> None:
    payload = _payload(shop)
    assert {"name", "version", "model", "metrics", "candidates"} <= set(payload)
    assert set(payload["candidates"]) == {"popularity", "itemknn", "content", "fused"}
    best = max(payload["candidates"].values(), key=lambda scores: scores["validation"]["ndcg_at_10"])
    assert payload["metrics"] == best
    for scores in payload["candidates"].values():
        assert set(scores["test"]) >= {
            "hit_rate_at_10",
            "ndcg_at_10",
            "recall_at_20",
            "map_at_10",
            "coverage",
            "gini",
        }
    version = Registry(shop).get("recommendations")
    assert version.metadata["parity_max_abs_diff"] <= 1e-5
    assert set(version.metadata["files"]) == {
        "items.parquet",
        "popular.json",
        "history.parquet",
        "similar.parquet",
    }


def test_recommend_user_unknown_user_and_similar(shop: Workspace) -> None:
    history = pl.read_parquet(Registry(shop).get("recommendations").folder / "history.parquet")
    user = history.get_column("user_id")[0]
    known = json.loads(
        runner.invoke(app, ["recommend", "--user", user, "--k", "5", "-w", str(shop.root), "--json"]).stdout
    )
    rows = known["recommendations"]
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5] and {row["source"] for row in rows} == {
        "personal"
    }
    bought = set(history.filter(pl.col("user_id") == user, pl.col("purchased")).get_column("item").to_list())
    items = pl.read_parquet(Registry(shop).get("recommendations").folder / "items.parquet")
    bought_ids = set(items.filter(pl.col("index").is_in(list(bought))).get_column("product_id").to_list())
    assert not bought_ids & {row["product_id"] for row in rows}
    unknown = json.loads(
        runner.invoke(app, ["recommend", "--user", "ghost", "-w", str(shop.root), "--json"]).stdout
    )
    assert {row["source"] for row in unknown["recommendations"]} == {"popular"}
    product = items.get_column("product_id")[0]
    similar = runner.invoke(app, ["recommend", "--similar-to", product, "-w", str(shop.root), "--json"])
    assert similar.exit_code == 0 and product not in {
        row["similar_id"] for row in json.loads(similar.stdout)["similar"]
    }


def test_batch_long_format(shop: Workspace, tmp_path: Path) -> None:
    users = (
        pl.read_parquet(Registry(shop).get("recommendations").folder / "history.parquet")
        .get_column("user_id")
        .unique()
        .sort()[:50]
    )
    source = tmp_path / "users.jsonl"
    pl.DataFrame({"user_id": [*users.to_list(), "ghost"]}).write_ndjson(source)
    output = tmp_path / "recs.csv"
    result = runner.invoke(
        app, ["recommend", "--input", str(source), "--output", str(output), "--k", "3", "-w", str(shop.root)]
    )
    assert result.exit_code == 0, result.output
    table = pl.read_csv(output)
    assert table.columns == ["user_id", "rank", "product_id", "score", "source", "model", "model_version"]
    assert table.height == 51 * 3
    assert table.filter(pl.col("user_id") == "ghost").get_column("source").to_list() == ["popular"] * 3


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--user", "u1", "--model", "nope"], "no such model"),
        (["--similar-to", "never-seen"], "product never seen"),
        (["--input", "{no_user_id}", "--output", "{out}"], "no user_id column"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    shop: Workspace, tmp_path: Path, arguments: list[str], expected: str
) -> None:
    no_user_id = tmp_path / "customers.csv"
    no_user_id.write_text("customer\nu1\n")
    out = tmp_path / "out.csv"
    arguments = [value.format(no_user_id=no_user_id, out=out) for value in arguments]
    result = runner.invoke(app, ["recommend", *arguments, "-w", str(shop.root)])
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
