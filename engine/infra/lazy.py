"""Lazy package attributes (PEP 562): a package names what it offers, and each heavy part loads on first use.

The CLI imports engine packages to build its options (a preset list, a format list for --help); polars, numpy and
onnxruntime should load when a command runs, not when `shopctl --help` starts (0.33 s of imports before this).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for package: attribute name -> the submodule that defines it."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook's name
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this hook
        return value

    return __getattr__


def import_in_background(*modules: str) -> threading.Thread:
    """Start importing modules on a worker thread, so their import overlaps work that releases the GIL.

    A later `import` of the same module on any thread waits for this one (Python's per-module import lock) and
    then finds it loaded; an import that fails here fails again, with its error, where the module is used.
    """

    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    thread = threading.Thread(target=load, name="shopctl-import", daemon=False)
    thread.start()
    return thread
