"""The typed exception family for errors a user can cause; the CLI maps each to an exit code and one line."""

from __future__ import annotations


class ShopctlError(Exception):
    """An error the user can fix: the message names the file, column, row or key, and the fix."""

    exit_code = 2


class ConfigError(ShopctlError):
    """config.toml is unreadable, has an unknown key or a wrong type."""


class InputError(ShopctlError):
    """A data file is missing, empty, malformed, or lacks a required column."""


class NotFoundError(ShopctlError):
    """A named thing (model, version, job, alert, workspace) does not exist."""


class WorkspaceError(ShopctlError):
    """The workspace is missing or not a shopctl workspace."""


class IntegrityError(ShopctlError):
    """A stored artefact does not match its recorded checksum or parity."""


class StoreError(ShopctlError):
    """The SQLite store could not be read or written (after retries)."""


class WorkspaceBusy(ShopctlError):
    """A lock that must not be shared is held by another process."""

    exit_code = 4


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_ALERTS = 3
EXIT_BUSY = 4
