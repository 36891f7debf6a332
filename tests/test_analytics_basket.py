"""`shopctl basket rules`: rules checked against values computed by hand (and mlxtend when installed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from analytics_fixtures import DAY, store
from typer.testing import CliRunner

from console.cli.main import app
from engine.analytics.basket import basket_rules, rules_from_baskets
from engine.workspace import Workspace

runner = CliRunner()
BASKETS = {"o1": "ABC", "o2": "AB", "o3": "AC", "o4": "BC", "o5": "A"}


def purchase(session: str, product: str, order: str | None) -> dict:
    return {
        "event_time": DAY,
        "event_type": "purchase",
        "event_name": "purchase",
        "session_id": session,
        "product_id": product,
        "order_id": order,
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    rows = [purchase(f"s-{order}", item, order) for order, items in BASKETS.items() for item in items]
    rows += [purchase("s6", "A", None), purchase("s6", "B", None)]  # no order id: the session's purchases
    rows.append(
        purchase("s-o1", "A", "o1") | {"event_time": DAY.replace(hour=1)}
    )  # same item again: one basket
    return store(tmp_path_factory.mktemp("basket") / "shop", rows)


def rule(report: dict, antecedent: list[str], consequent: list[str]) -> dict:
    return next(r for r in report["rules"] if r["antecedent"] == antecedent and r["consequent"] == consequent)


def test_pair_rules_by_hand(shop: Workspace) -> None:
    # 6 baskets; A in 5, B in 4, C in 3; AB in 3, AC in 2, BC in 2; ABC in 1
    report = basket_rules(shop, min_support=0.3, min_confidence=0.0, top=100)
    assert report["baskets"] == 6 and report["basket_source"] == "order_id+session"
    assert report["min_count"] == 2 and report["frequent_pairs"] == 3 and report["rules_total"] == 6
    a_b = rule(report, ["A"], ["B"])
    assert a_b["support"] == pytest.approx(0.5)
    assert a_b["confidence"] == pytest.approx(0.6)
    assert a_b["lift"] == pytest.approx(0.6 / (4 / 6))
    assert a_b["conviction"] == pytest.approx((1 - 4 / 6) / (1 - 0.6))
    b_a = rule(report, ["B"], ["A"])
    assert b_a["confidence"] == pytest.approx(0.75)
    assert b_a["conviction"] == pytest.approx((1 - 5 / 6) / 0.25)
    c_b = rule(report, ["C"], ["B"])
    assert (c_b["confidence"], c_b["lift"], c_b["conviction"]) == pytest.approx((2 / 3, 1.0, 1.0))
    assert report["rules"][0]["lift"] == max(r["lift"] for r in report["rules"])


def test_thresholds_product_and_triples(shop: Workspace) -> None:
    strict = basket_rules(shop, min_support=0.3, min_confidence=0.7)
    assert [(r["antecedent"], r["consequent"]) for r in strict["rules"]] == [(["B"], ["A"])]
    only_c = basket_rules(shop, min_support=0.3, min_confidence=0.0, product="C")
    assert {r["antecedent"][0] for r in only_c["rules"]} == {"C"}
    triples = basket_rules(shop, min_support=0.1, min_confidence=0.0, triples=True, top=100)
    assert triples["frequent_triples"] == 1
    b_c_a = rule(triples, ["B", "C"], ["A"])
    assert (b_c_a["confidence"], b_c_a["lift"]) == pytest.approx((0.5, 0.5 / (5 / 6)))
    a_bc = rule(triples, ["A"], ["B", "C"])
    assert (a_bc["confidence"], a_bc["lift"]) == pytest.approx((0.2, 0.2 / (2 / 6)))
    assert triples["rules_total"] == 6 + 6


def test_same_pair_rules_as_mlxtend() -> None:
    mlxtend = pytest.importorskip("mlxtend.frequent_patterns")
    pd = pytest.importorskip("pandas")
    import random

    rng = random.Random(3)
    items = [
        {
            "basket": f"b{basket}",
            "item": f"i{rng.choice(range(12)) if rng.random() < 0.7 else rng.choice(range(40))}",
        }
        for basket in range(400)
        for _ in range(rng.randint(1, 5))
    ]
    frame = pl.DataFrame(items).unique()
    ours, _ = rules_from_baskets(frame, min_support=0.02, min_confidence=0.1)
    onehot = (
        frame.with_columns(pl.lit(True).alias("x")).pivot("item", index="basket", values="x").fill_null(False)
    )
    dense = pd.DataFrame({name: onehot[name].to_list() for name in onehot.columns if name != "basket"})
    itemsets = mlxtend.fpgrowth(dense, min_support=0.02, use_colnames=True, max_len=2)
    theirs = mlxtend.association_rules(itemsets, metric="confidence", min_threshold=0.1)
    expected = {
        (next(iter(row.antecedents)), next(iter(row.consequents))): (row.support, row.confidence, row.lift)
        for row in theirs.itertuples()
    }
    got = {
        (r["antecedent"][0], r["consequent"][0]): (r["support"], r["confidence"], r["lift"])
        for r in ours.to_dicts()
    }
    assert got.keys() == expected.keys() and len(got) > 20
    for key, values in expected.items():
        assert got[key] == pytest.approx(values)


def test_cli_and_bad_input(shop: Workspace, tmp_path: Path) -> None:
    result = runner.invoke(app, ["basket", "rules", "-w", str(shop.root), "--min-support", "0.3", "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["rules_total"] == 6 and all(not math.isnan(r["lift"]) for r in payload["rules"])
    assert (
        "B -> A"
        in runner.invoke(app, ["basket", "rules", "-w", str(shop.root), "--min-support", "0.3"]).stdout
    )
    for args, fragment in (
        (["--min-support", "0"], "--min-support 0.0"),
        (["--min-confidence", "1.5"], "--min-confidence 1.5"),
        (["--product", "Z"], "--product 'Z'"),
    ):
        bad = runner.invoke(app, ["basket", "rules", "-w", str(shop.root), *args])
        assert bad.exit_code == 2 and fragment in bad.stderr and bad.stdout == "", bad.stderr
    views_only = store(tmp_path / "views", [purchase("s", "A", None) | {"event_type": "view"}])
    empty = runner.invoke(app, ["basket", "rules", "-w", str(views_only.root)])
    assert empty.exit_code == 2 and "no purchase with a product_id" in empty.stderr
