"""The bad-input promise, command by command: every user error ends in one stderr line, exit 2, no traceback.

"Bad input gets a clear error and loses nothing": malformed files, unknown columns, missing models, a locked
store or a full disk each end in one line that says what and where; stdout stays empty (or valid JSON);
a failed write leaves the last good state. Most cases run in-process through CliRunner; a few run the real
`shopctl` console script so the process's own exit code and stderr are checked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from console.cli.main import app
from engine.ingest import ingest_files
from engine.simulator import simulate
from engine.workspace import WORKSPACE_ENV, Workspace, init_workspace

runner = CliRunner()
START = date(2026, 1, 5)
DAYS = 14
SHOPCTL = Path(sys.executable).with_name("shopctl")


# -- helpers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a command did: exit code, stdout, stderr, and the exception CliRunner caught (if any)."""

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


def invoke(*args: str) -> Outcome:
    result = runner.invoke(app, list(args))
    caught = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.stdout, result.stderr, caught)


def run_shopctl(*args: str, cwd: Path | None = None, timeout: float = 60) -> Outcome:
    """Run the installed console script, as an ops engineer's shell would."""
    env = {key: value for key, value in os.environ.items() if key not in (WORKSPACE_ENV, "SHOPCTL_DEBUG")}
    done = subprocess.run(
        [str(SHOPCTL), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(outcome: Outcome, *fragments: str, code: int = 2, as_json: bool = False) -> str:
    """Exit code, exactly one non-empty stderr line starting "error:", no traceback, clean stdout."""
    assert outcome.exception is None, f"uncaught {outcome.exception!r}"
    assert outcome.code == code, (outcome.code, outcome.stdout, outcome.stderr)
    assert "Traceback" not in outcome.stdout + outcome.stderr
    lines = outcome.stderr.removesuffix("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), outcome.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    if as_json and outcome.stdout.strip():
        json.loads(outcome.stdout)
    else:
        assert outcome.stdout == "", outcome.stdout
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def snapshot(folder: Path) -> dict[str, object]:
    """Every file under folder (relative path -> sha256) and the store's rows per table, to prove a failed
    command changed nothing (the store's bytes may move when a reader checkpoints its WAL)."""
    files: dict[str, object] = {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "locks" not in path.parts and not path.name.startswith("shopctl.db")
    }
    store = folder / "state" / "shopctl.db"
    if store.exists():
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as connection:
            tables = [
                row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            files["store rows"] = {
                table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables
            }
    return files


def copy_shop(shop: Path, tmp_path: Path) -> Path:
    """A private copy of the module's shop for a test that tries to change it."""
    target = tmp_path / "shop"
    shutil.copytree(shop, target, ignore=shutil.ignore_patterns("*.lock", "*.holder"))
    return target


@pytest.fixture(autouse=True)
def _no_workspace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.delenv("SHOPCTL_DEBUG", raising=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two weeks of events and a trained `conversion` champion (v1)."""
    root = tmp_path_factory.mktemp("bad-input") / "shop"
    ws, _ = init_workspace(root)
    events = root.parent / "events.parquet"
    simulate(DAYS, seed=5, start=START, sessions_per_day=200).events.write_parquet(events)
    ingest_files(ws, [events])
    trained = invoke("train", "conversion", "--candidates", "logistic", "-w", str(root), "--json")
    assert trained.code == 0, trained.stderr
    assert invoke("alerts", "list", "-w", str(root)).code == 0  # creates and migrates the store
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bad input files, by what is wrong with them."""
    folder = tmp_path_factory.mktemp("bad-files")
    made = {
        "empty.csv": b"",
        "header_only.csv": b"event_time,event_type,user_id\n",
        "binary.csv": b"\x00\x01\x02\x03\x04 not text at all \x00\xff",
        "parquet_named_csv.csv": b"PAR1 then garbage",
        "array.json": b'[{"event_time": "2026-01-05T10:00:00Z"}]\n',
        "no_time.csv": b"foo,bar\n1,2\n",
        "table_header_only.csv": b"pages,value,bought\n",
        "bad.csv.gz": b"\x1f\x8b not really gzip",
        "nul.csv": b"event_time,event_type,user_id\n2026-01-05T10:00:00Z,view,u1\n2026-01-05T10:01:00Z,vi\x00ew,u1\n",
        "broken_line.jsonl": b'{"event_time": "2026-01-05T10:00:00Z", "event_type": "view"}\n{"event_time": oops\n',
    }
    for name, payload in made.items():
        (folder / name).write_bytes(payload)
    pl.DataFrame({"pages": [1, 2, 3] * 20, "bought": ["yes", "no", "no"] * 20}).write_csv(
        folder / "table.csv"
    )
    pl.DataFrame({"a": [1.0, 2.0]}).write_parquet(folder / "unrelated.parquet")
    os.mkfifo(folder / "pipe.csv")  # a FIFO with no writer: reading it would block forever
    return {
        name.split(".")[0]: folder / name for name in [*made, "table.csv", "unrelated.parquet", "pipe.csv"]
    }


# -- every command outside a workspace ----------------------------------------------------------------

NEEDS_WORKSPACE: dict[str, list[str]] = {
    "ingest": ["ingest", "events.csv"],
    "data summary": ["data", "summary"],
    "features build": ["features", "build"],
    "train": ["train", "conversion"],
    "score": ["score", "conversion", "--input", "in.parquet", "--output", "out.parquet"],
    "models list": ["models", "list"],
    "models show": ["models", "show", "conversion"],
    "models promote": ["models", "promote", "conversion", "1"],
    "models rollback": ["models", "rollback", "conversion"],
    "monitor run": ["monitor", "run"],
    "monitor history": ["monitor", "history"],
    "alerts list": ["alerts", "list"],
    "alerts ack": ["alerts", "ack", "1"],
    "alerts deliver": ["alerts", "deliver"],
    "report": ["report"],
    "retrain": ["retrain", "conversion"],
    "daemon start": ["daemon", "start"],
    "daemon stop": ["daemon", "stop"],
    "daemon status": ["daemon", "status"],
    "daemon run-now": ["daemon", "run-now", "monitor"],
    "config show": ["config", "show"],
    "config check": ["config", "check"],
    "tui": ["tui"],
    "segments build": ["segments", "build"],
    "segments show": ["segments", "show"],
    "funnel": ["funnel"],
    "paths": ["paths"],
    "basket rules": ["basket", "rules"],
    "recommend": ["recommend", "--user", "u1"],
    "forecast": ["forecast"],
    "experiment analyze": ["experiment", "analyze", "--dimension", "ab_group"],
    "experiment plan": ["experiment", "plan", "--baseline", "0.03", "--mde", "0.1"],
    "experiment list": ["experiment", "list"],
    "experiment stop": ["experiment", "stop", "1"],
}
# Commands that make their own folder or need none.
NO_WORKSPACE_NEEDED = {"init", "demo", "simulate"}


def _command_paths(command: object, prefix: str = "") -> Iterator[str]:
    """Every leaf command's path ("models show"); typer 0.29 vendors click, so walk by attribute."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from _command_paths(sub, f"{prefix} {name}".strip())
    else:
        yield prefix


def test_every_command_is_covered_by_the_outside_workspace_table() -> None:
    commands = set(_command_paths(typer.main.get_command(app)))
    assert commands - NO_WORKSPACE_NEEDED == set(NEEDS_WORKSPACE), "add the new command to NEEDS_WORKSPACE"


@pytest.mark.parametrize("name", sorted(NEEDS_WORKSPACE))
def test_outside_a_workspace(name: str, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    for as_json in (False, True):
        args = [*NEEDS_WORKSPACE[name], "-w", str(nowhere), *(["--json"] if as_json else [])]
        if name == "tui":
            args = args[:-1] if as_json else args  # the TUI has no --json
        assert_one_line_error(
            invoke(*args), str(nowhere), "not a shopctl workspace", "shopctl init", as_json=as_json
        )


def test_outside_a_workspace_real_process(tmp_path: Path) -> None:
    """No --workspace and no $SHOPCTL_WORKSPACE: the current directory is named, with the fix."""
    line = assert_one_line_error(run_shopctl("monitor", "run", "--json", cwd=tmp_path), as_json=True)
    assert f"shopctl init {tmp_path.resolve()}" in line


# -- malformed config.toml ------------------------------------------------------------------------------

CONFIG_CASES = {
    "unknown key": (
        lambda text: text.replace("[monitor]\n", '[monitor]\nwindw = "1d"\n', 1),
        ("config.toml", "monitor.windw", "unknown key"),
    ),
    "wrong type": (
        lambda text: text.replace("\nbaseline_weeks = 4\n", '\nbaseline_weeks = "four"\n', 1),
        ("config.toml", "monitor.baseline_weeks", "integer"),
    ),
    "bad TOML": (lambda text: text + "\n[[[broken\n", ("config.toml", "not valid TOML", "line")),
    # Values that parse as TOML but would only fail when the daemon or monitor runs (issue 17 §10).
    "impossible cron": (
        lambda text: text.replace('cron = "0 3 * * 1"', 'cron = "99 99 * * *"', 1),
        ("config.toml", "cron", "'99 99 * * *'", "not a cron expression"),
    ),
    "unknown time zone": (
        lambda text: text.replace('time_zone = "UTC"', 'time_zone = "Mars/Olympus"', 1),
        ("config.toml", "schema.time_zone", "Mars/Olympus", "IANA"),
    ),
    "bad window": (
        lambda text: text.replace('\nwindow = "1d"\n', '\nwindow = "abc"\n', 1),
        ("config.toml", "monitor.window", "'abc'", "1d"),
    ),
    "zero delivery deadline": (
        lambda text: text.replace(
            "\nwebhook_deadline_seconds = 10.0\n", "\nwebhook_deadline_seconds = 0\n", 1
        ),
        ("config.toml", "alerts.webhook_deadline_seconds", "greater than 0"),
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
@pytest.mark.parametrize(
    "command", [["monitor", "run"], ["ingest", "events.csv"], ["config", "show"], ["config", "check"]]
)
def test_malformed_config(case: str, command: list[str], tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    edit, fragments = CONFIG_CASES[case]
    text = ws.config_path.read_text()
    broken = edit(text)
    assert broken != text
    ws.config_path.write_text(broken)
    assert_one_line_error(invoke(*command, "-w", str(ws.root)), *fragments)


def test_malformed_config_real_process(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    ws.config_path.write_text(CONFIG_CASES["unknown key"][0](ws.config_path.read_text()))
    assert_one_line_error(run_shopctl("data", "summary", "-w", str(ws.root)), "monitor.windw", "unknown key")


# -- the table: one bad input per row ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    args: Callable[[Path, dict[str, Path]], list[str]]
    fragments: tuple[str, ...]
    json: bool = False


CASES: dict[str, Case] = {
    # ingest
    "ingest missing file": Case(
        lambda s, f: ["ingest", str(s.parent / "nope.csv")], ("nope.csv", "no such file")
    ),
    "ingest empty file": Case(lambda s, f: ["ingest", str(f["empty"])], ("empty.csv", "file is empty")),
    "ingest header only": Case(
        lambda s, f: ["ingest", str(f["header_only"])], ("header_only.csv", "no data rows")
    ),
    "ingest binary": Case(
        lambda s, f: ["ingest", str(f["binary"])], ("binary.csv", "not a recognised format")
    ),
    "ingest parquet named csv": Case(
        lambda s, f: ["ingest", str(f["parquet_named_csv"])], ("parquet_named_csv.csv", "contains Parquet")
    ),
    "ingest json array": Case(lambda s, f: ["ingest", str(f["array"])], ("array.json", "JSON Lines")),
    "ingest broken gzip": Case(lambda s, f: ["ingest", str(f["bad"])], ("bad.csv.gz", "gzip")),
    "ingest FIFO": Case(
        lambda s, f: ["ingest", str(f["pipe"])], ("pipe.csv", "named pipe", "not a regular file")
    ),
    "ingest NUL byte": Case(lambda s, f: ["ingest", str(f["nul"])], ("nul.csv", "line 3", "NUL byte")),
    "ingest bad JSON Lines line": Case(
        lambda s, f: ["ingest", str(f["broken_line"])], ("broken_line.jsonl", "line 2", "not a JSON object")
    ),
    "ingest unknown --encoding": Case(
        lambda s, f: ["ingest", str(f["no_time"]), "--encoding", "klingon"], ("encoding 'klingon'", "utf-8")
    ),
    "ingest folder": Case(lambda s, f: ["ingest", str(s / "data")], ("/data", "is a folder")),
    "ingest no time column": Case(
        lambda s, f: ["ingest", str(f["no_time"])], ("no_time.csv", "event_time", "--column event_time=")
    ),
    "ingest unknown --column target": Case(
        lambda s, f: ["ingest", str(f["no_time"]), "--column", "bogus=foo"],
        ("--column", "'bogus'", "event_time"),
    ),
    "ingest --column source missing": Case(
        lambda s, f: ["ingest", str(f["no_time"]), "--column", "event_time=stamp", "--json"],
        ("no_time.csv", "'stamp'", "'foo'"),
        json=True,
    ),
    "ingest malformed --column": Case(
        lambda s, f: ["ingest", str(f["no_time"]), "--column", "event_time"], ("--column", "NAME=VALUE")
    ),
    # train
    "train unknown task": Case(
        lambda s, f: ["train", "conversoin"], ("unknown task 'conversoin'", "--table")
    ),
    "train missing --target column": Case(
        lambda s, f: ["train", "shop", "--table", str(f["table"]), "--target", "Revenue"],
        ("table.csv", "no target column 'Revenue'"),
    ),
    "train --table without --target": Case(
        lambda s, f: ["train", "shop", "--table", str(f["table"])], ("table.csv", "--target")
    ),
    "train empty table": Case(
        lambda s, f: [
            "train",
            "shop",
            "--table",
            str(f["table_header_only"]),
            "--target",
            "bought",
            "--json",
        ],
        ("table_header_only.csv", "no rows"),
        json=True,
    ),
    "train missing table": Case(
        lambda s, f: ["train", "shop", "--table", str(s.parent / "nope.csv"), "--target", "x"],
        ("nope.csv", "no such file"),
    ),
    "train unknown candidate": Case(
        lambda s, f: ["train", "conversion", "--candidates", "logistc"], ("logistc", "logistic")
    ),
    "train bad cutoff": Case(lambda s, f: ["train", "churn", "--cutoff", "soon"], ("--cutoff 'soon'",)),
    # score and models
    "score unknown model": Case(
        lambda s, f: ["score", "nosuch", "-i", str(f["unrelated"]), "-o", str(s.parent / "o.parquet")],
        ("no model named 'nosuch'", "registry", "shopctl train"),
    ),
    "score unknown version": Case(
        lambda s, f: ["score", "conversion", "--version", "9", "-i", str(f["unrelated"]), "-o", "-"],
        ("'conversion'", "no version 9", "versions: 1"),
    ),
    "score input lacks columns": Case(
        lambda s, f: ["score", "conversion", "-i", str(f["unrelated"]), "-o", str(s.parent / "o.parquet")],
        ("unrelated.parquet", "n_events"),
    ),
    "score missing input": Case(
        lambda s, f: ["score", "conversion", "-i", str(s.parent / "nope.parquet"), "-o", "-"],
        ("nope.parquet", "no such file"),
    ),
    "models show unknown model": Case(
        lambda s, f: ["models", "show", "nosuch", "--json"], ("no model named 'nosuch'",), json=True
    ),
    "models show unknown version": Case(
        lambda s, f: ["models", "show", "conversion", "9"], ("no version 9",)
    ),
    "models promote unknown model": Case(lambda s, f: ["models", "promote", "nosuch", "1"], ("'nosuch'",)),
    "models promote unknown version": Case(
        lambda s, f: ["models", "promote", "conversion", "9"], ("no version 9", "versions: 1")
    ),
    "models rollback unknown model": Case(lambda s, f: ["models", "rollback", "nosuch"], ("'nosuch'",)),
    "models rollback nothing to roll back": Case(
        lambda s, f: ["models", "rollback", "conversion"], ("no previous champion", "models promote")
    ),
    # names are validated before they become paths (issue 17 §14)
    "models promote path name": Case(
        lambda s, f: ["models", "promote", "../../etc", "1"], ("'../../etc'", "not valid")
    ),
    "models rollback path name": Case(lambda s, f: ["models", "rollback", "../x"], ("'../x'", "not valid")),
    "models show path name": Case(lambda s, f: ["models", "show", "a/b"], ("'a/b'", "not valid")),
    "retrain path name": Case(
        lambda s, f: ["retrain", "../../etc", "--dry-run"], ("'../../etc'", "not valid")
    ),
    "score path name": Case(
        lambda s, f: ["score", "../up", "-i", str(f["unrelated"]), "-o", "-"], ("'../up'", "not valid")
    ),
    "train path name": Case(
        lambda s, f: ["train", "../up", "--table", str(f["table"]), "--target", "bought"],
        ("'../up'", "not valid"),
    ),
    "monitor path model": Case(lambda s, f: ["monitor", "run", "--model", "../up"], ("'../up'", "not valid")),
    "retrain unknown model": Case(lambda s, f: ["retrain", "nosuch", "--dry-run"], ("'nosuch'",)),
    # monitor, alerts, daemon
    "monitor bad --window": Case(lambda s, f: ["monitor", "run", "--window", "2x"], ("--window '2x'", "1d")),
    "monitor zero --window": Case(
        lambda s, f: ["monitor", "run", "--window", "0d", "--json"], ("--window '0d'",), json=True
    ),
    "monitor bad --at": Case(
        lambda s, f: ["monitor", "run", "--at", "yesterday"], ("--at 'yesterday'", "2026-")
    ),
    "monitor impossible --at": Case(
        lambda s, f: ["monitor", "run", "--at", "2026-13-45"], ("--at '2026-13-45'",)
    ),
    "monitor future --at": Case(
        lambda s, f: ["monitor", "run", "--at", "2030-01-01"], ("--at 2030-01-01", "ends after now")
    ),
    "monitor ancient --at": Case(
        lambda s, f: ["monitor", "run", "--at", "0001-01-01", "--json"],
        ("--at 0001-01-01", "too early"),
        json=True,
    ),
    "monitor --input future --at": Case(
        lambda s, f: [
            "monitor",
            "run",
            "--input",
            str(f["unrelated"]),
            "--model",
            "conversion",
            "--at",
            "2099-05-01",
        ],
        ("--at 2099-05-01", "ends after now"),
    ),
    "monitor unknown model": Case(lambda s, f: ["monitor", "run", "--model", "nosuch"], ("'nosuch'",)),
    "monitor --input lacks columns": Case(
        lambda s, f: ["monitor", "run", "--input", str(f["unrelated"]), "--json"],
        ("unrelated.parquet", "lacks", "n_events", "score"),
        json=True,
    ),
    "monitor --input missing": Case(
        lambda s, f: ["monitor", "run", "--input", str(s.parent / "nope.parquet")],
        ("nope.parquet", "no such file"),
    ),
    "monitor --input no rows": Case(
        lambda s, f: ["monitor", "run", "--input", str(f["table_header_only"])],
        ("table_header_only.csv", "no rows"),
    ),
    "monitor history bad --since": Case(
        lambda s, f: ["monitor", "history", "--since", "lastweek"], ("--since 'lastweek'",)
    ),
    "alerts ack unknown id": Case(lambda s, f: ["alerts", "ack", "9999"], ("alert 9999", "alerts list")),
    "alerts deliver zero --deadline": Case(
        lambda s, f: ["alerts", "deliver", "--deadline", "0"], ("--deadline 0", "above 0")
    ),
    "alerts deliver endless --deadline": Case(
        lambda s, f: ["alerts", "deliver", "--deadline", "inf", "--json"],
        ("--deadline inf", "at most 3600"),
        json=True,
    ),
    "daemon run-now unknown job": Case(
        lambda s, f: ["daemon", "run-now", "nosuchjob"], ("'nosuchjob'", "config.toml", "monitor")
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, shop: Path, files: dict[str, Path]) -> None:
    case = CASES[name]
    before = snapshot(shop)
    outcome = invoke(*case.args(shop, files), "-w", str(shop))
    assert_one_line_error(outcome, *case.fragments, as_json=case.json)
    assert snapshot(shop) == before, "a failed command changed the workspace"


def test_train_with_no_events(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "empty-shop")
    assert_one_line_error(
        invoke("train", "conversion", "-w", str(ws.root)), "no events yet", "shopctl ingest"
    )


# -- a full disk ------------------------------------------------------------------------------------------


def fail_fsync(monkeypatch: pytest.MonkeyPatch, fragment: str) -> list[str]:
    """Make the disk "fill up" when a file whose path contains fragment is flushed; returns the hits."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file an fsync flushes")
    real_fsync = os.fsync
    hits: list[str] = []

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if fragment in target:
            hits.append(target)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return hits


@pytest.fixture(scope="module")
def new_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV of events after the shop's data, plus one row with a broken timestamp (so it quarantines)."""
    path = tmp_path_factory.mktemp("new-events") / "new.csv"
    events = simulate(1, seed=9, start=START + timedelta(days=DAYS + 2), sessions_per_day=30).events
    events.select(["event_time", "event_type", "user_id", "session_id", "product_id", "price"]).write_csv(
        path
    )
    with path.open("a") as handle:
        handle.write("not-a-time,view,u1,s1,p1,1.0\n")
    return path


@pytest.mark.parametrize(
    "where", ["part file", "part file (polars)", "quarantine file", "manifest", "ingest log"]
)
def test_disk_full_during_ingest(
    where: str, shop: Path, new_events: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_shop(shop, tmp_path)
    before = snapshot(root / "data")
    if where == "part file (polars)":
        # polars reports ENOSPC as a ComputeError without errno; the engine must still say "disk full".
        def write_parquet(*_args: object, **_kwargs: object) -> None:
            raise pl.exceptions.ComputeError(
                "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
            )

        monkeypatch.setattr(pl.DataFrame, "write_parquet", write_parquet)
    else:
        fragment = {
            "part file": "/.part-",
            "quarantine file": "/quarantine/",
            "manifest": "/._manifest.json.",
            "ingest log": "/.ingests.jsonl.",
        }[where]
        hits = fail_fsync(monkeypatch, fragment)
    line = assert_one_line_error(invoke("ingest", str(new_events), "-w", str(root), "--json"), "disk full")
    assert str(root) in line, "the message must say where"
    if where != "part file (polars)":
        assert hits, f"the {where} was never written: the test did not exercise it"
    assert snapshot(root / "data") == before, "a failed ingest must leave the last good state"

    monkeypatch.undo()
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    retry = invoke("ingest", str(new_events), "-w", str(root), "--json")
    assert retry.code == 0, retry.stderr
    counts = json.loads(retry.stdout)
    assert counts["rows_stored"] > 0 and counts["rows_quarantined"] == 1 and counts["rows_duplicate"] == 0
    assert (
        counts["rows_read"] == counts["rows_stored"] + counts["rows_quarantined"] + counts["rows_duplicate"]
    )


@pytest.mark.parametrize(
    "where",
    [
        "version files",
        "champion pointer",
    ],
)
def test_disk_full_during_train_registration(
    where: str, shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_shop(shop, tmp_path)
    before = snapshot(root / "registry")
    hits = fail_fsync(
        monkeypatch, {"version files": "/model.onnx", "champion pointer": "/.champion.json."}[where]
    )
    line = assert_one_line_error(
        invoke("train", "conversion", "--candidates", "logistic", "-w", str(root)), "disk full"
    )
    assert "registry" in line or str(root) in line, "the message must say where"
    assert hits, f"the {where} was never written: the test did not exercise it"
    assert snapshot(root / "registry") == before, "a failed registration must leave the registry as it was"


# -- locks held by other processes ----------------------------------------------------------------------


def hold(script: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python process that takes a lock, prints "held", and keeps it until killed or done."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


HOLD_STORE = """
    import sqlite3, sys, time
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    print(time.time(), flush=True)  # the moment the lock is released
    connection.execute("COMMIT")
"""


def test_locked_store_is_waited_for(shop: Path, tmp_path: Path) -> None:
    """Another process holds an exclusive SQLite transaction for a few seconds: the write waits, then succeeds."""
    root = copy_shop(shop, tmp_path)
    assert invoke("alerts", "list", "-w", str(root)).code == 0  # the store exists and is migrated
    holder = hold(HOLD_STORE, str(root / "state" / "shopctl.db"), "5")  # longer than an unblocked run takes
    try:
        outcome = run_shopctl("monitor", "run", "-w", str(root), "--json")
        ended = time.time()
    finally:
        released_line, _ = holder.communicate(timeout=30)
    assert outcome.code == 0, outcome.stderr
    assert "locked" not in outcome.stderr and "Traceback" not in outcome.stderr
    assert json.loads(outcome.stdout)["run_id"] >= 1
    # the run waited for the holder: it ended after the lock was released (an unblocked run ends seconds before)
    assert ended >= float(released_line.split()[-1])


def test_store_locked_too_long_is_one_clear_line(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the store stays locked past the retry budget: exit 2 naming the store, never exit 1."""
    import engine.store.db as db

    root = copy_shop(shop, tmp_path)
    assert invoke("alerts", "list", "-w", str(root)).code == 0
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(db, "WRITE_RETRY_SECONDS", 0.3)
    holder = hold(HOLD_STORE, str(root / "state" / "shopctl.db"), "30")
    try:
        outcome = invoke("monitor", "run", "-w", str(root))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert_one_line_error(outcome, str(root / "state" / "shopctl.db"), "another process", "try again")


HOLD_WORKSPACE_LOCK = """
    import sys, time
    from engine.infra.locks import workspace_lock
    from engine.workspace import Workspace
    with workspace_lock(Workspace(__import__("pathlib").Path(sys.argv[1])), sys.argv[2], purpose="test holder"):
        print("held", flush=True)
        time.sleep(60)
"""


def test_held_workspace_lock_is_exit_4_naming_the_holder(shop: Path, files: dict[str, Path]) -> None:
    before = snapshot(shop / "data")
    holder = hold(HOLD_WORKSPACE_LOCK, str(shop), "ingest")
    try:
        outcome = run_shopctl("ingest", str(shop.parent / "events.parquet"), "-w", str(shop))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert_one_line_error(outcome, "workspace busy", "lock 'ingest'", f"pid {holder.pid}", code=4)
    assert snapshot(shop / "data") == before


def test_usage_error_is_one_line(shop: Path) -> None:
    assert_one_line_error(run_shopctl("alerts", "ack", "abc", "-w", str(shop)), "alert_id")


def test_monitor_run_with_a_tampered_champion_is_a_critical_alert_and_a_failing_exit(
    shop: Path, tmp_path: Path
) -> None:
    """Issue 17 §3: `score` refuses a changed model.onnx; `monitor run` must not pass it with a warning."""
    copied = copy_shop(shop, tmp_path)
    onnx = copied / "registry" / "conversion" / "v1" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    outcome = invoke("monitor", "run", "-w", str(copied), "--json")
    assert outcome.code == 3, (outcome.code, outcome.stderr)
    payload = json.loads(outcome.stdout)
    assert payload["status"] == "critical"
    integrity = [alert for alert in payload["alerts"] if alert["rule"] == "model-integrity"]
    assert len(integrity) == 1 and integrity[0]["severity"] == "critical", payload["alerts"]
    assert "conversion" in integrity[0]["message"]
    kpis = {check["name"]: check["status"] for check in payload["checks"]}
    assert kpis["integrity"] == "critical" and "kpi" in kpis  # the shop's own checks still ran
    for fail_on in ("warning", "critical"):
        again = invoke("monitor", "run", "-w", str(copied), "--fail-on", fail_on)
        assert again.code == 3, (fail_on, again.stderr)


@pytest.fixture(scope="module")
def sessions_table(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's session features (what `shopctl score conversion` takes), 1,000 rows."""

    from engine.events import scan_events
    from engine.features import session_features

    folder = tmp_path_factory.mktemp("score-inputs")
    ws = Workspace(shop)
    table = session_features(scan_events(ws), list(ws.settings.schema.dimensions)).collect().head(1000)
    path = folder / "sessions.parquet"
    table.write_parquet(path)
    return path


def _poisoned(sessions_table: Path, tmp_path: Path, values: dict[int, float], name: str) -> Path:
    import polars as pl

    table = pl.read_parquet(sessions_table)
    column = table.get_column("n_events").cast(pl.Float64)
    column = column.scatter(list(values), list(values.values()))
    path = tmp_path / name
    table.with_columns(column).write_csv(path)
    return path


@pytest.mark.parametrize(
    "values", [{3: float("inf")}, dict.fromkeys(range(1000), 1e39)], ids=["one-inf", "all-1e39"]
)
def test_score_never_writes_nan_silently(
    values: dict[int, float], shop: Path, sessions_table: Path, tmp_path: Path
) -> None:
    """Issue 17 §4: one inf cell gave a NaN row, 1e39 everywhere gave 1,000 NaN scores, exit 0 and no word."""
    import polars as pl

    poisoned = _poisoned(sessions_table, tmp_path, values, "poisoned.csv")
    out = tmp_path / "scores.parquet"
    outcome = invoke("score", "conversion", "-i", str(poisoned), "-o", str(out), "-w", str(shop), "--json")
    assert outcome.code == 0, outcome.stderr
    payload = json.loads(outcome.stdout)
    assert payload["invalid_rows"] == len(values) and payload["invalid_by_column"] == {
        "n_events": len(values)
    }
    assert payload["on_invalid"] == "null" and payload["null_scores"] == len(values)
    assert "warning:" in outcome.stderr and "n_events" in outcome.stderr
    scores = pl.read_parquet(out).get_column("score")
    assert scores.is_nan().sum() == 0 and scores.null_count() == len(values)
    assert scores.len() == 1000

    missing = invoke(
        "score",
        "conversion",
        "-i",
        str(poisoned),
        "-o",
        str(out),
        "-w",
        str(shop),
        "--json",
        "--on-invalid",
        "missing",
    )
    assert missing.code == 0 and json.loads(missing.stdout)["invalid_rows"] == len(values)
    scored = pl.read_parquet(out).get_column("score")
    assert scored.null_count() == 0 and scored.is_nan().sum() == 0

    out.unlink()
    failed = invoke(
        "score", "conversion", "-i", str(poisoned), "-o", str(out), "-w", str(shop), "--on-invalid", "fail"
    )
    line = assert_one_line_error(failed, "poisoned.csv", "'n_events'", "not a finite float32", "--on-invalid")
    assert f"row {min(values) + 1}:" in line
    assert not out.exists()
