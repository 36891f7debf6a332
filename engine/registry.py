"""The model registry: immutable ONNX versions per model name, one champion each, and a history of changes.

A version folder is written complete under a staging name and renamed into place, so a reader never sees
half a version; the champion pointer is one atomic file; every change appends a line to history.jsonl.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from engine.clock import now_text
from engine.errors import InputError, IntegrityError, NotFoundError
from engine.infra.atomic import _fsync_dir, atomic_write_json
from engine.infra.faults import fault_point
from engine.infra.locks import workspace_lock
from engine.workspace import Workspace

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VERSION_PATTERN = re.compile(r"^v([1-9][0-9]*)$")
LIBRARIES = ("onnx", "onnxruntime", "skl2onnx", "scikit-learn", "numpy", "polars", "shopctl")
STAGING_PREFIX = ".staging-"


# The headline figures of a version, in order of preference (classifiers first, then regressors).
HEADLINE_METRICS = ("roc_auc", "pr_auc", "rmse", "r2", "mae", "log_loss")


def headline_metric(metrics: dict[str, Any], part: str = "validation") -> str:
    """The metric a version is judged by in listings: the first of HEADLINE_METRICS it reports."""
    figures = metrics.get(part) or {}
    return next((name for name in HEADLINE_METRICS if name in figures), next(iter(figures), ""))


def sha256_hex(payload: bytes) -> str:
    """The hex sha256 of a byte string (what metadata.json records for model.onnx)."""
    return hashlib.sha256(payload).hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that produce and read a model (without importing them)."""
    found: dict[str, str] = {}
    for library in LIBRARIES:
        try:
            found[library] = importlib_metadata.version(library)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def check_name(name: str) -> str:
    """Return name if it is a valid model name (a folder name), else raise InputError naming the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InputError(
            f"model name {name!r} is not valid: use letters, digits, '_', '-' or '.', starting with a letter "
            "or digit (e.g. conversion)"
        )
    return name


def _onnx_io_names(onnx_bytes: bytes) -> tuple[list[str], list[str]]:
    import onnx

    try:
        model = onnx.load_model_from_string(onnx_bytes)
    except Exception as error:  # noqa: BLE001 - any parse failure means "not an ONNX model"
        raise InputError(f"the model bytes are not a valid ONNX model: {error}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [item.name for item in model.graph.input if item.name not in initializers]
    return inputs, [item.name for item in model.graph.output]


def _check_metadata(name: str, onnx_bytes: bytes, metadata: dict[str, Any]) -> None:
    inputs = metadata.get("inputs")
    output = metadata.get("output")
    if not isinstance(inputs, list) or not inputs or not isinstance(output, dict) or "name" not in output:
        raise InputError(
            f"model {name!r}: metadata needs 'inputs' (a list of {{name, dtype, kind}}) and 'output' "
            "({name, column?}) as described in DEVELOPERS.md"
        )
    graph_inputs, graph_outputs = _onnx_io_names(onnx_bytes)
    declared = [item.get("name") for item in inputs]
    if sorted(declared) != sorted(graph_inputs):
        raise InputError(
            f"model {name!r}: metadata inputs {declared} do not match the ONNX graph inputs {graph_inputs}"
        )
    if output["name"] not in graph_outputs:
        raise InputError(
            f"model {name!r}: metadata output {output['name']!r} is not an ONNX output ({graph_outputs})"
        )


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable model version: its folder, metadata and (verified) ONNX bytes."""

    name: str
    version: int
    folder: Path

    @property
    def onnx_path(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def metadata_path(self) -> Path:
        return self.folder / "metadata.json"

    @property
    def profile_path(self) -> Path:
        return self.folder / "profile.json"

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return _read_json(self.metadata_path)

    @cached_property
    def profile(self) -> dict[str, Any]:
        return _read_json(self.profile_path)

    def read_file(self, file_name: str) -> bytes:
        """An extra file of the version (registered with `files=`), after checking its recorded sha256."""
        expected = (self.metadata.get("files") or {}).get(file_name)
        path = self.folder / file_name
        if expected is None:
            raise NotFoundError(f"{path}: model {self.name!r} v{self.version} has no file {file_name!r}")
        try:
            payload = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(
                f"{path}: missing; the registry folder was altered, register the model again"
            ) from None
        if sha256_hex(payload) != expected:
            raise IntegrityError(
                f"{path}: sha256 does not match the registered {str(expected)[:12]}…; the file changed after "
                "registration: restore it or register a new version"
            )
        return payload

    def read_onnx(self) -> bytes:
        """The ONNX bytes, after checking they still match the sha256 recorded at registration."""
        try:
            payload = self.onnx_path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(
                f"{self.onnx_path}: missing; the registry folder was altered, register the model again"
            ) from None
        expected = self.metadata.get("sha256")
        actual = sha256_hex(payload)
        if actual != expected:
            raise IntegrityError(
                f"{self.onnx_path}: sha256 {actual[:12]}… does not match the registered {str(expected)[:12]}…; "
                "the file changed after registration: restore it or register a new version"
            )
        return payload

    def summary(self) -> dict[str, Any]:
        """The fields `models list` and `models show` print."""
        meta = self.metadata
        return {
            "name": self.name,
            "version": self.version,
            "task": meta.get("task"),
            "target": meta.get("target"),
            "chosen": meta.get("chosen"),
            "metrics": meta.get("metrics", {}),
            "created": meta.get("created"),
            "created_by": meta.get("created_by"),
            "rows": meta.get("rows"),
            "parity_max_abs_diff": meta.get("parity_max_abs_diff"),
            "sha256": meta.get("sha256"),
            "path": str(self.folder),
        }


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{path}: missing from the registry; register the model again") from None
    except ValueError as error:
        raise IntegrityError(f"{path}: not valid JSON ({error}); the registry file was altered") from None


class Registry:
    """The registry under a workspace's registry/ folder."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.registry_dir

    # -- reading ---------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Model names with at least one registered version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if entry.is_dir() and NAME_PATTERN.match(entry.name) and self.versions(entry.name)
        )

    def versions(self, name: str) -> list[int]:
        """Registered version numbers of a model, ascending (empty when the model is unknown)."""
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        found = []
        for entry in folder.iterdir():
            match = VERSION_PATTERN.match(entry.name)
            if match and entry.is_dir():
                found.append(int(match.group(1)))
        return sorted(found)

    def champion(self, name: str) -> int | None:
        """The champion version of a model, or None when none was promoted."""
        pointer = self._read_pointer(name)
        return int(pointer["version"]) if pointer else None

    def _require_model(self, name: str) -> list[int]:
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise NotFoundError(
                f"no model named {name!r} in {self.root} (known: {known}); train one with `shopctl train {name}`"
            )
        return versions

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """A registered version (None = the champion); NotFoundError names what exists."""
        versions = self._require_model(name)
        if version is None:
            version = self.champion(name)
            if version is None:
                raise NotFoundError(
                    f"model {name!r} has no champion; promote one with `shopctl models promote {name} "
                    f"{versions[-1]}` or pass --version"
                )
        if int(version) not in versions:
            raise NotFoundError(
                f"model {name!r} has no version {version} (versions: {', '.join(map(str, versions))})"
            )
        return ModelVersion(name, int(version), self._version_folder(name, int(version)))

    def version(self, name: str, version: int) -> ModelVersion:
        """A version already known to exist (from `versions`), without listing the folders again."""
        return ModelVersion(name, int(version), self._version_folder(name, int(version)))

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every recorded change of a model, oldest first.

        A change whose second write a crash cut off (a version stored without its "register" line, a champion
        pointer switched without its line) is included as derived from the file that was written, marked
        "recovered"; the next registry write under the lock stores it.
        """
        entries = self._recorded_history(name)
        return [*entries, *self._missing_entries(name, entries)]

    def _missing_entries(self, name: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """History lines that the version folders and the champion pointer imply but the history lacks."""
        registered = {entry.get("to") for entry in entries if entry.get("action") == "register"}
        missing = []
        for version in self.versions(name):
            if version in registered:
                continue
            metadata_path = self._version_folder(name, version) / "metadata.json"
            try:
                metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                metadata = {}
            missing.append(
                {
                    "at": metadata.get("created") or now_text(),
                    "who": metadata.get("created_by") or "unknown",
                    "action": "register",
                    "from": None,
                    "to": version,
                    "why": "recovered: the version was stored but its history line was lost (crash)",
                    "recovered": True,
                }
            )
        pointer = self._read_pointer(name) if self._champion_path(name).exists() else None
        change = (pointer or {}).get("change_id")
        if pointer is not None and change and not any(entry.get("change_id") == change for entry in entries):
            missing.append(
                {
                    "at": pointer.get("since"),
                    "who": pointer.get("by"),
                    "action": pointer.get("action") or "promote",
                    "from": pointer.get("from"),
                    "to": pointer.get("version"),
                    "why": pointer.get("why") or "",
                    "change_id": change,
                    "recovered": True,
                    **({"forced": True} if pointer.get("forced") else {}),
                }
            )
        return missing

    def _reconcile(self, name: str) -> None:
        """Store the history lines a crash cut off (the caller holds the registry lock)."""
        entries = self._recorded_history(name)
        for entry in self._missing_entries(name, entries):
            self._write_history_line(name, entry)

    def _recorded_history(self, name: str) -> list[dict[str, Any]]:
        path = self._history_path(name)
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        entries = []
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                # A torn last line (crash mid-append) is skipped, not fatal: the champion pointer is the truth.
                if line_number != len(lines):
                    raise IntegrityError(f"{path}: line {line_number} is not valid JSON") from None
        return entries

    # -- writing ---------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        onnx_bytes: bytes,
        metadata: dict[str, Any],
        profile: dict[str, Any],
        *,
        promote: bool = True,
        who: str = "cli",
        why: str = "",
        files: dict[str, bytes] | None = None,
    ) -> int:
        """Store a new immutable version (staging folder + rename) and optionally make it champion.

        files: extra files of the version (e.g. a vocabulary), stored beside model.onnx with their sha256 in
        metadata["files"]; ModelVersion.read_file checks it."""
        extra = dict(files or {})
        reserved = {"model.onnx", "metadata.json", "profile.json"}
        if reserved & set(extra) or any("/" in key or key.startswith(".") for key in extra):
            raise InputError(
                f"model {name!r}: extra file names {sorted(extra)} clash with the version's own files"
            )
        check_name(name)
        _check_metadata(name, onnx_bytes, metadata)
        model_folder = self.root / name
        model_folder.mkdir(parents=True, exist_ok=True)
        with workspace_lock(self.workspace, f"registry-{name}", purpose=f"register {name}"):
            # Staging folders are only written under this lock, so any found now were left by a killed register.
            for leftover in model_folder.glob(f"{STAGING_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)
            self._reconcile(name)
            version = (self.versions(name) or [0])[-1] + 1
            full_metadata = {
                "library_versions": library_versions(),
                **metadata,
                "name": name,
                "version": version,
                "sha256": sha256_hex(onnx_bytes),
                **({"files": {key: sha256_hex(value) for key, value in extra.items()}} if extra else {}),
                "created": metadata.get("created") or now_text(),
                "created_by": metadata.get("created_by") or who,
            }
            staging = model_folder / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
            try:
                staging.mkdir()
                if extra:
                    self._write_version_files_extra(staging, extra)
                self._write_version_files(staging, onnx_bytes, full_metadata, profile)
                os.rename(staging, self._version_folder(name, version))
                _fsync_dir(model_folder)
                fault_point("registry.after_version_rename")
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
            old_pointer = self._read_pointer(name)
            history_path = self._history_path(name)
            history_size = history_path.stat().st_size if history_path.exists() else None
            try:
                self._append_history(
                    name, action="register", who=who, why=why, from_version=None, to_version=version
                )
                if promote:
                    self._switch(
                        name, version, action="promote", who=who, why=why or "registered as champion"
                    )
            except BaseException:
                # A full disk (or Ctrl-C) after the rename must not leave a half-registered version behind.
                self._undo_register(name, version, old_pointer, history_size)
                raise
        return version

    def _undo_register(
        self, name: str, version: int, old_pointer: dict[str, Any] | None, history_size: int | None
    ) -> None:
        """Put the champion pointer and history back as they were and remove the new version folder."""
        with contextlib.suppress(OSError):
            if old_pointer is None:
                self._champion_path(name).unlink(missing_ok=True)
            elif self._read_pointer(name) != old_pointer:
                atomic_write_json(self._champion_path(name), old_pointer)
        with contextlib.suppress(OSError):
            history_path = self._history_path(name)
            if history_size is None:
                history_path.unlink(missing_ok=True)
            else:
                with open(history_path, "r+b") as handle:
                    handle.truncate(history_size)
        shutil.rmtree(self._version_folder(name, version), ignore_errors=True)

    def promote(self, name: str, version: int, *, who: str, why: str, forced: bool = False) -> dict[str, Any]:
        """Make version the champion (the previous one stays on the rollback stack); returns the history entry."""
        check_name(name)
        with workspace_lock(self.workspace, f"registry-{name}", purpose=f"promote {name} v{version}"):
            self._reconcile(name)
            self.get(name, version)
            return self._switch(name, int(version), action="promote", who=who, why=why, forced=forced)

    def rollback(self, name: str, *, who: str, why: str) -> dict[str, Any]:
        """Return to the previous champion in one step; returns the history entry."""
        check_name(name)
        with workspace_lock(self.workspace, f"registry-{name}", purpose=f"rollback {name}"):
            self._reconcile(name)
            self._require_model(name)
            pointer = self._read_pointer(name)
            previous = list(pointer.get("previous", [])) if pointer else []
            if not previous:
                raise NotFoundError(
                    f"model {name!r} has no previous champion to roll back to; "
                    f"promote a version with `shopctl models promote {name} VERSION`"
                )
            target = previous.pop()
            return self._switch(name, target, action="rollback", who=who, why=why, previous=previous)

    def record(self, name: str, action: str, *, who: str, why: str, **details: Any) -> dict[str, Any]:
        """Record a decision that changes nothing (e.g. "challenger rejected") in the model's history."""
        check_name(name)
        with workspace_lock(self.workspace, f"registry-{name}", purpose=f"record {action} for {name}"):
            self._reconcile(name)
            current = self.champion(name)
            return self._append_history(
                name, action=action, who=who, why=why, from_version=current, to_version=current, **details
            )

    # -- internals -------------------------------------------------------------------------------------

    def _version_folder(self, name: str, version: int) -> Path:
        return self.root / name / f"v{version}"

    def _champion_path(self, name: str) -> Path:
        return self.root / check_name(name) / "champion.json"

    def _history_path(self, name: str) -> Path:
        return self.root / check_name(name) / "history.jsonl"

    def _read_pointer(self, name: str) -> dict[str, Any] | None:
        path = self._champion_path(name)
        return _read_json(path) if path.exists() else None

    @staticmethod
    def _write_version_files(
        folder: Path, onnx_bytes: bytes, metadata: dict[str, Any], profile: dict[str, Any]
    ) -> None:
        """Write and fsync the three files of a version into its (staging) folder."""
        files = {
            "model.onnx": onnx_bytes,
            "metadata.json": (json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n").encode(),
            "profile.json": (json.dumps(profile, indent=2, sort_keys=True, default=str) + "\n").encode(),
        }
        for file_name, payload in files.items():
            path = folder / file_name
            with open(path, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(path, 0o444)
        _fsync_dir(folder)

    @staticmethod
    def _write_version_files_extra(folder: Path, extra: dict[str, bytes]) -> None:
        """Write the extra files of a version (vocabularies, fallbacks) into its staging folder, read-only."""
        for file_name, payload in extra.items():
            path = folder / file_name
            with open(path, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(path, 0o444)

    def _switch(
        self,
        name: str,
        version: int,
        *,
        action: str,
        who: str,
        why: str,
        forced: bool = False,
        previous: list[int] | None = None,
    ) -> dict[str, Any]:
        """Point the champion at version atomically and record the change (caller holds the lock)."""
        pointer = self._read_pointer(name)
        current = int(pointer["version"]) if pointer else None
        if previous is None:
            previous = list(pointer.get("previous", [])) if pointer else []
            if current is not None and current != version:
                previous.append(current)
        change_id = uuid.uuid4().hex
        since = now_text()
        details: dict[str, Any] = {"forced": True} if forced else {}
        # Write-ahead: the pointer carries what its history line will say, so a crash between the two writes
        # leaves a line that history() derives and the next write under the lock stores (_reconcile).
        atomic_write_json(
            self._champion_path(name),
            {
                "name": name,
                "version": version,
                "since": since,
                "by": who,
                "why": why,
                "previous": previous,
                "action": action,
                "from": current,
                "change_id": change_id,
                **details,
            },
        )
        fault_point("registry.after_champion")
        return self._append_history(
            name,
            action=action,
            who=who,
            why=why,
            from_version=current,
            to_version=version,
            at=since,
            change_id=change_id,
            **details,
        )

    def _append_history(
        self,
        name: str,
        *,
        action: str,
        who: str,
        why: str,
        from_version: int | None,
        to_version: int | None,
        at: str | None = None,
        **details: Any,
    ) -> dict[str, Any]:
        entry = {
            "at": at or now_text(),
            "who": who,
            "action": action,
            "from": from_version,
            "to": to_version,
            "why": why,
            **details,
        }
        self._write_history_line(name, entry)
        return entry

    def _write_history_line(self, name: str, entry: dict[str, Any]) -> None:
        path = self._history_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
        with open(path, "a", encoding="utf-8") as handle:
            # After a torn last line (a crash mid-append) the new line starts on its own line.
            handle.write(("\n" if torn else "") + json.dumps(entry, sort_keys=True, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
