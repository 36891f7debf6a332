"""`shopctl paths`: collapsed event-name sequences, transitions and ends on a hand-made store."""

from __future__ import annotations

import json

import pytest
from analytics_fixtures import event_rows, store
from typer.testing import CliRunner

from console.cli.main import app
from engine.analytics.paths import paths_report
from engine.workspace import Workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    rows = (
        event_rows(
            "s1", ["view:detail", "view:detail", "cart:addtocart", "view:detail", "purchase:transaction"]
        )
        + event_rows("s2", ["view:detail", "view:detail", "view:detail"])
        + event_rows("s3", ["view:detail", "cart:addtocart"])
        + event_rows("s4", ["view:detail"])
        + event_rows("s5", ["view:detail", "purchase:transaction", "view:detail"], order="o5")
    )
    return store(tmp_path_factory.mktemp("paths") / "shop", rows)


def test_paths_collapse_repeats_and_keep_raw_names(shop: Workspace) -> None:
    report = paths_report(shop, top=10)
    assert report["sessions"] == 5
    paths = {row["path"]: row["sessions"] for row in report["top_paths"]}
    assert paths == {
        "detail": 2,
        "detail > addtocart": 1,
        "detail > addtocart > detail > transaction": 1,
        "detail > transaction > detail": 1,
    }
    assert report["top_paths"][0] == {"path": "detail", "sessions": 2, "share": 0.4, "length": 1}
    transitions = {(row["from"], row["to"]): row["count"] for row in report["transitions"]}
    assert transitions[("(start)", "detail")] == 5
    assert transitions[("detail", "addtocart")] == 2
    assert transitions[("detail", "(exit)")] == 3
    assert transitions[("addtocart", "detail")] == 1
    shares = [row["share"] for row in report["transitions"] if row["from"] == "detail"]
    assert sum(shares) == pytest.approx(1.0)
    assert {row["event_name"]: row["sessions"] for row in report["ends"]} == {
        "detail": 3,
        "addtocart": 1,
        "transaction": 1,
    }


def test_paths_to_purchase_cut_at_the_first_purchase(shop: Workspace) -> None:
    report = paths_report(shop, to="purchase")
    assert report["sessions"] == 2
    assert {row["path"] for row in report["top_paths"]} == {
        "detail > addtocart > detail > transaction",
        "detail > transaction",
    }
    assert report["ends"] == [{"event_name": "transaction", "sessions": 2, "share": 1.0}]


def test_cli(shop: Workspace) -> None:
    result = runner.invoke(app, ["paths", "-w", str(shop.root), "--top", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    assert [row["path"] for row in json.loads(result.stdout)["top_paths"]] == ["detail"]
    table = runner.invoke(app, ["paths", "-w", str(shop.root)])
    assert "detail > addtocart" in table.stdout
    for args, fragment in ((["--to", "cart"], "--to 'cart'"), (["--top", "0"], "--top 0")):
        bad = runner.invoke(app, ["paths", "-w", str(shop.root), *args])
        assert bad.exit_code == 2 and fragment in bad.stderr and bad.stdout == ""
