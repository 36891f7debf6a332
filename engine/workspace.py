"""A workspace: the folder that holds a user's config, data, model registry and state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import WorkspaceError
from engine.infra.atomic import atomic_write_text

if TYPE_CHECKING:
    from engine.config import Settings

# engine.config (pydantic, ~130 ms to import) loads with the first settings read, not with this module: the CLI
# imports this to build its options.
WORKSPACE_ENV = "SHOPCTL_WORKSPACE"
SUBFOLDERS = ("data", "data/events", "data/quarantine", "data/features", "data/inbox", "registry", "state")


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace; every module asks this object where things live."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def events_dir(self) -> Path:
        return self.root / "data" / "events"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "data" / "quarantine"

    @property
    def features_dir(self) -> Path:
        return self.root / "data" / "features"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "data" / "inbox"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def store_path(self) -> Path:
        return self.root / "state" / "shopctl.db"

    @property
    def locks_dir(self) -> Path:
        return self.root / "state" / "locks"

    @property
    def logs_dir(self) -> Path:
        return self.root / "state" / "logs"

    @cached_property
    def settings(self) -> Settings:
        from engine.config import load_settings

        return load_settings(self.config_path)

    def reload_settings(self) -> Settings:
        """Read config.toml again (the daemon and TUI call this when the file changes)."""
        self.__dict__.pop("settings", None)
        return self.settings

    def is_initialised(self) -> bool:
        return self.config_path.exists() and (self.root / "state").is_dir()


def resolve_root(path: Path | str | None) -> Path:
    """The workspace folder: the argument, else $SHOPCTL_WORKSPACE, else the current directory."""
    if path is None or str(path) == "":
        path = os.environ.get(WORKSPACE_ENV) or "."
    return Path(path).expanduser().resolve()


def open_workspace(path: Path | str | None = None, *, must_exist: bool = True) -> Workspace:
    """Open an existing workspace (validating its config), or name the fix when it is not one."""
    root = resolve_root(path)
    workspace = Workspace(root)
    if must_exist and not workspace.is_initialised():
        raise WorkspaceError(
            f"{root}: not a shopctl workspace (no config.toml and state/); "
            f"create one with `shopctl init {root}` or pass --workspace"
        )
    _ = workspace.settings  # validate config now, so a bad key fails before any work starts
    return workspace


def init_workspace(path: Path | str | None = None, *, force: bool = False) -> tuple[Workspace, bool]:
    """Create the workspace layout and a default config.toml; returns (workspace, created_config)."""
    root = resolve_root(path)
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root}: exists and is not a folder")
    for sub in SUBFOLDERS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    workspace = Workspace(root)
    created = False
    if force or not workspace.config_path.exists():
        from engine.config import default_config_text

        atomic_write_text(workspace.config_path, default_config_text())
        created = True
    _ = workspace.settings
    return workspace, created
