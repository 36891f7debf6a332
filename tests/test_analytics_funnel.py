"""`shopctl funnel`: counts and intervals on a hand-made store, the checkout outage found, bad input refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from analytics_fixtures import event_rows, store
from scipy import stats
from typer.testing import CliRunner

from console.cli.main import app
from engine.analytics.funnel import funnel_report
from engine.analytics.stats import two_proportion_test, wilson_interval
from engine.events import commit_events, new_ingest_id
from engine.simulator import simulate
from engine.workspace import Workspace, init_workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    rows = (
        event_rows("s1", ["view", "cart", "checkout", "purchase"], order="o1")
        + event_rows("s2", ["view", "view", "cart"], device="desktop")
        + event_rows("s3", ["view", "purchase", "checkout", "cart"], order="o3")  # out of order: still counts
        + event_rows("s4", ["view"])
        + event_rows("s5", ["cart", "checkout"], device="desktop")  # no view: reaches no step
        + event_rows("s6", ["view", "checkout"])  # checkout without cart: stops at view
        + event_rows("s7", ["view", "cart"], day=1)
    )
    return store(tmp_path_factory.mktemp("funnel") / "shop", rows)


def test_counts_follow_the_documented_rule(small: Workspace) -> None:
    report = funnel_report(small, until="2026-03-02")
    overall = report["overall"]
    assert overall["sessions"] == 6
    assert [row["sessions"] for row in overall["steps"]] == [5, 3, 2, 2]
    assert report["steps"] == ["view", "cart", "checkout", "purchase"]
    cart = overall["steps"][1]
    assert cart["step_conversion"] == pytest.approx(3 / 5)
    assert cart["step_ci"] == pytest.approx(list(wilson_interval(3, 5)))
    purchase = overall["steps"][3]
    assert purchase["overall_conversion"] == pytest.approx(2 / 5)
    assert purchase["step_conversion"] == pytest.approx(1.0)


def test_segments_split_the_sessions(small: Workspace) -> None:
    report = funnel_report(small, by="device", until="2026-03-02")
    by_value = {segment["segment"]: segment for segment in report["segments"]}
    assert set(by_value) == {"desktop", "mobile"}
    assert [row["sessions"] for row in by_value["mobile"]["steps"]] == [4, 2, 2, 2]
    assert [row["sessions"] for row in by_value["desktop"]["steps"]] == [1, 1, 0, 0]
    assert by_value["desktop"]["sessions"] == 2


def test_own_event_names_are_steps(tmp_path: Path) -> None:
    rows = event_rows("a", ["view:detail", "cart:addtocart", "purchase:transaction"], order="o") + event_rows(
        "b", ["view:detail", "view:detail", "cart:addtocart"]
    )
    ws = store(tmp_path / "shop", rows)
    report = funnel_report(ws, steps=["detail", "addtocart", "transaction"])
    assert [row["matched_on"] for row in report["overall"]["steps"]] == ["event_name"] * 3
    assert [row["sessions"] for row in report["overall"]["steps"]] == [2, 2, 1]
    default = funnel_report(ws)
    assert default["skipped_steps"] == ["checkout"]
    assert default["steps"] == ["view", "cart", "purchase"]


def test_statistics_match_reference_formulas() -> None:
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    z, p_value = two_proportion_test(30, 200, 50, 210)
    pooled = 80 / 410
    expected_z = (30 / 200 - 50 / 210) / math.sqrt(pooled * (1 - pooled) * (1 / 200 + 1 / 210))
    assert z == pytest.approx(expected_z)
    assert p_value == pytest.approx(2 * stats.norm.sf(abs(expected_z)))


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws, _ = init_workspace(tmp_path_factory.mktemp("outage") / "shop")
    simulation = simulate(
        28,
        seed=11,
        scenario="checkout_outage",
        start="2026-01-01",
        sessions_per_day=900,
        scenario_day="2026-01-22",
    )
    commit_events(ws, simulation.events, new_ingest_id())
    return ws


def test_checkout_outage_is_the_top_loss(outage: Workspace) -> None:
    report = funnel_report(outage, by="device", since="2026-01-22", until="2026-01-28", compare_to="previous")
    assert report["compare_to"] == {"since": "2026-01-15", "until": "2026-01-21"}
    assert report["overall"]["drop_off_ranking"][0] == "checkout->purchase"
    mobile = next(segment for segment in report["segments"] if segment["segment"] == "mobile")
    assert mobile["drop_off_ranking"][0] == "checkout->purchase"
    step = next(change for change in mobile["changes"] if change["transition"] == "checkout->purchase")
    assert step["significant"] and step["change"] < -0.2
    desktop = next(segment for segment in report["segments"] if segment["segment"] == "desktop")
    desktop_step = next(c for c in desktop["changes"] if c["transition"] == "checkout->purchase")
    assert not desktop_step["significant"]


def test_cli_json_and_table(outage: Workspace) -> None:
    result = runner.invoke(
        app, ["funnel", "-w", str(outage.root), "--compare-to", "2026-01-08..2026-01-14", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["window"] == {"since": "2026-01-22", "until": "2026-01-28"}
    assert payload["overall"]["drop_off_ranking"][0] == "checkout->purchase"
    table = runner.invoke(app, ["funnel", "-w", str(outage.root), "--compare-to", "previous"])
    assert table.exit_code == 0
    assert "most conversion lost: checkout->purchase" in table.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--by", "colour"], "--by 'colour': not a dimension"),
        (["--steps", "view,wishlist"], "unknown step 'wishlist'"),
        (["--steps", "view"], "at least two steps"),
        (["--since", "2025-01-01", "--until", "2025-01-31"], "no events in 2025-01-01..2025-01-31"),
        (["--compare-to", "last-week"], "--compare-to 'last-week': expected `previous`"),
        (["--compare-to", "2026-02-30..2026-03-01"], "expected a date YYYY-MM-DD"),
        (["--compare-to", "2025-01-01..2025-01-07"], "--compare-to: no events in 2025-01-01..2025-01-07"),
        (["--since", "03/01/2026"], "--since '03/01/2026'"),
    ],
)
def test_bad_input_is_one_line_exit_2(small: Workspace, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["funnel", "-w", str(small.root), *args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("preset", ["retailrocket", "rees46"])
def test_presets_show_the_shops_own_names(tmp_path: Path, preset: str) -> None:
    from engine.ingest import ingest_files
    from engine.ingest.options import IngestOptions

    ws, _ = init_workspace(tmp_path / "shop")
    fixture = Path(__file__).parent / "fixtures" / "ingest" / f"{preset}.csv"
    ingest_files(ws, [fixture], IngestOptions(preset=preset))
    paths = runner.invoke(app, ["paths", "-w", str(ws.root), "--json"])
    assert paths.exit_code == 0, paths.stderr
    names = {row["event_name"] for row in json.loads(paths.stdout)["ends"]}
    names |= {row["from"] for row in json.loads(paths.stdout)["transitions"]}
    own = {"retailrocket": "addtocart", "rees46": "view"}[preset]
    assert own in names
    funnel = runner.invoke(app, ["funnel", "-w", str(ws.root), "--json"])
    assert funnel.exit_code == 0, funnel.stderr
    report = json.loads(funnel.stdout)
    assert "checkout" in report["skipped_steps"]  # neither format logs a checkout
    if preset == "retailrocket":
        own_steps = funnel_report(ws, steps=["view", "addtocart", "transaction"])
        assert [row["matched_on"] for row in own_steps["overall"]["steps"]] == [
            "event_type",
            "event_name",
            "event_name",
        ]
