"""The registry: atomic versions, champion switches, rollback, history, integrity and the `models` CLI."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
from test_scoring_models import (
    PROFILE,
    fit_logistic,
    make_table,
    metadata_for,
    register_logistic,
    to_onnx_bytes,
)
from typer.testing import CliRunner

import engine.registry as registry_module
from console.cli.main import app
from engine.errors import InputError, IntegrityError, NotFoundError, WorkspaceBusy
from engine.infra.locks import workspace_lock
from engine.registry import Registry
from engine.scoring import load_model
from engine.workspace import Workspace, init_workspace

runner = CliRunner()


@pytest.fixture(scope="module")
def model_parts() -> tuple[bytes, dict]:
    frame = make_table()
    pipeline = fit_logistic(frame)
    return to_onnx_bytes(pipeline), metadata_for(pipeline, frame.height)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")[0]


def _register(workspace: Workspace, parts: tuple[bytes, dict], promote: bool = True) -> int:
    onnx_bytes, metadata = parts
    return Registry(workspace).register(
        "conversion", onnx_bytes, metadata, PROFILE, promote=promote, who="test", why="unit"
    )


def test_register_writes_an_immutable_version_and_champion(workspace: Workspace, model_parts) -> None:
    registry = Registry(workspace)
    assert _register(workspace, model_parts) == 1
    assert _register(workspace, model_parts, promote=False) == 2
    assert registry.names() == ["conversion"]
    assert registry.versions("conversion") == [1, 2]
    assert registry.champion("conversion") == 1
    folder = workspace.registry_dir / "conversion" / "v2"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.onnx", "profile.json"]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["version"] == 2 and metadata["name"] == "conversion" and metadata["created_by"] == "test"
    assert metadata["spec"]["id_columns"] == ["session_id"]
    assert registry.get("conversion").version == 1
    assert registry.get("conversion", 2).profile == PROFILE


@pytest.mark.parametrize("fail_at", ["write", "rename"])
def test_failure_mid_register_leaves_no_version_and_no_half_folder(
    workspace: Workspace, model_parts, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    _register(workspace, model_parts)

    def broken_write(folder: Path, onnx_bytes: bytes, metadata: dict, profile: dict) -> None:
        (folder / "model.onnx").write_bytes(onnx_bytes[:10])
        raise OSError(28, "No space left on device")

    def broken_rename(source: str, target: str) -> None:
        raise OSError(5, "Input/output error")

    if fail_at == "write":
        monkeypatch.setattr(Registry, "_write_version_files", staticmethod(broken_write))
    else:
        monkeypatch.setattr(registry_module.os, "rename", broken_rename)
    with pytest.raises(OSError):
        _register(workspace, model_parts)
    registry = Registry(workspace)
    assert registry.versions("conversion") == [1]
    assert registry.champion("conversion") == 1
    assert sorted(p.name for p in (workspace.registry_dir / "conversion").iterdir()) == [
        "champion.json",
        "history.jsonl",
        "v1",
    ]
    assert [entry["action"] for entry in registry.history("conversion")] == ["register", "promote"]
    monkeypatch.undo()
    assert _register(workspace, model_parts) == 2


def test_promote_rollback_and_history(workspace: Workspace, model_parts) -> None:
    registry = Registry(workspace)
    for _ in range(3):
        _register(workspace, model_parts, promote=False)
    registry.promote("conversion", 1, who="alice", why="first")
    registry.promote("conversion", 3, who="bob", why="better", forced=True)
    registry.promote("conversion", 2, who="carol", why="safer")
    assert registry.champion("conversion") == 2
    entry = registry.rollback("conversion", who="dave", why="v2 broke mobile")
    assert (entry["from"], entry["to"], entry["action"]) == (2, 3, "rollback")
    assert registry.champion("conversion") == 3
    assert registry.rollback("conversion", who="dave", why="again")["to"] == 1
    with pytest.raises(NotFoundError, match="no previous champion"):
        registry.rollback("conversion", who="dave", why="nothing left")
    registry.record("conversion", "challenger_rejected", who="retrain", why="worse by 0.01", challenger=3)
    history = registry.history("conversion")
    assert [e["action"] for e in history] == ["register"] * 3 + ["promote"] * 3 + ["rollback"] * 2 + [
        "challenger_rejected"
    ]
    promotions = [e for e in history if e["action"] == "promote"]
    assert [(e["from"], e["to"], e["who"]) for e in promotions] == [
        (None, 1, "alice"),
        (1, 3, "bob"),
        (3, 2, "carol"),
    ]
    assert promotions[1]["forced"] is True and "forced" not in promotions[0]
    assert history[-1] == {**history[-1], "from": 1, "to": 1, "challenger": 3, "why": "worse by 0.01"}
    assert all(set(e) >= {"at", "who", "action", "from", "to", "why"} for e in history)


def test_unknown_model_and_version_name_what_exists(workspace: Workspace, model_parts) -> None:
    registry = Registry(workspace)
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        registry.get("churn")
    _register(workspace, model_parts, promote=False)
    with pytest.raises(NotFoundError, match="has no champion"):
        registry.get("conversion")
    with pytest.raises(NotFoundError, match=r"no version 7 \(versions: 1\)"):
        registry.promote("conversion", 7, who="t", why="")
    with pytest.raises(InputError, match="not valid"):
        registry.get("../etc")


def test_metadata_must_match_the_onnx_graph(workspace: Workspace, model_parts) -> None:
    onnx_bytes, metadata = model_parts
    bad = {**metadata, "inputs": metadata["inputs"][:-1]}
    with pytest.raises(InputError, match="do not match the ONNX graph inputs"):
        Registry(workspace).register("conversion", onnx_bytes, bad, PROFILE, who="t", why="")
    with pytest.raises(InputError, match="not a valid ONNX model"):
        Registry(workspace).register("conversion", b"not onnx", metadata, PROFILE, who="t", why="")
    assert Registry(workspace).versions("conversion") == []


def test_tampered_onnx_file_is_refused(workspace: Workspace, model_parts) -> None:
    _register(workspace, model_parts)
    path = workspace.registry_dir / "conversion" / "v1" / "model.onnx"
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(IntegrityError, match="does not match the registered"):
        load_model(workspace, "conversion")
    result = runner.invoke(app, ["score", "conversion", "-i", "x.csv", "-o", "-", "-w", str(workspace.root)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "sha256" in result.stderr


def test_switches_wait_for_the_registry_lock(workspace: Workspace, model_parts, monkeypatch) -> None:
    _register(workspace, model_parts)
    monkeypatch.setattr(registry_module, "workspace_lock", functools.partial(workspace_lock, wait_seconds=0))
    with workspace_lock(workspace, "registry-conversion"):
        with pytest.raises(WorkspaceBusy, match="registry-conversion"):
            Registry(workspace).promote("conversion", 1, who="t", why="")
        with pytest.raises(WorkspaceBusy):
            _register(workspace, model_parts)
    assert Registry(workspace).versions("conversion") == [1]


def test_models_cli_list_show_promote_rollback(workspace: Workspace) -> None:
    register_logistic(workspace)
    register_logistic(workspace, C=0.1, promote=False)
    ws = ["-w", str(workspace.root)]
    listed = runner.invoke(app, ["models", "list", "--json", *ws])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)["models"]
    assert (row["name"], row["champion"], row["latest"], row["versions"]) == ("conversion", 1, 2, [1, 2])
    shown = runner.invoke(app, ["models", "show", "conversion", "2", "--json", *ws])
    payload = json.loads(shown.stdout)
    assert (
        payload["version"] == 2 and payload["champion"] == 1 and payload["metadata"]["chosen"] == "logistic"
    )
    promoted = runner.invoke(app, ["models", "promote", "conversion", "2", "--why", "try it", "--json", *ws])
    assert json.loads(promoted.stdout)["to"] == 2
    rolled = runner.invoke(app, ["models", "rollback", "conversion", "--why", "undo", *ws])
    assert rolled.exit_code == 0 and "v2 → v1" in rolled.stdout
    human = runner.invoke(app, ["models", "show", "conversion", *ws])
    assert human.exit_code == 0 and "conversion v1" in human.stdout and "rollback" in human.stdout
    missing = runner.invoke(app, ["models", "show", "churn", *ws])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no model named 'churn'")
    assert missing.stderr.count("\n") == 1
    empty_rollback = runner.invoke(app, ["models", "rollback", "conversion", *ws])
    assert empty_rollback.exit_code == 2 and "no previous champion" in empty_rollback.stderr
