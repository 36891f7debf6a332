"""engine/ and models/ are a headless library: importing them must not load a console library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import engine
import models


def _all_modules(package) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        names.append(info.name)
    return names


def test_engine_and_models_do_not_import_console_libraries() -> None:
    modules = _all_modules(engine) + _all_modules(models)
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'typer', 'rich'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"engine/models pulled in console libraries: {loaded[:10]}"
    assert len(modules) >= 3
