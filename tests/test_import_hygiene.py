"""engine/ and models/ are a headless library: they must never import a console library.

scikit-learn 1.9 itself imports rich when it is installed (for its progress callbacks), so "rich is absent
from sys.modules" cannot be the check. Instead the subprocess blocks textual, typer and rich outright and
imports every engine and models module: any import of ours fails loudly, while third-party optional uses
fall back as they do on a machine without those packages. A second check reads every source file's
import statements, so a lazy import inside a function is caught too.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine
import models

BANNED = ("textual", "typer", "rich")
ROOT = Path(__file__).resolve().parents[1]


def _all_modules(package) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def _last_json_line(script: str) -> object:
    """Run script in a fresh interpreter from the project root; the JSON it printed last."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_engine_and_models_import_with_console_libraries_blocked() -> None:
    modules = _all_modules(engine) + _all_modules(models)
    script = (
        "import importlib, importlib.abc, json, sys\n"
        f"BANNED = {BANNED!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BANNED:\n"
        "            raise ModuleNotFoundError(f'blocked console library: {name}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        "failed = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as error:\n"
        "        failed[name] = str(error)\n"
        "print(json.dumps(failed))\n"
    )
    failed = _last_json_line(script)
    assert failed == {}, f"engine/models need a console library: {failed}"
    assert len(modules) >= 10


def test_no_source_file_imports_a_console_library() -> None:
    offenders = []
    for folder in ("engine", "models"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] in BANNED:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == []


def test_the_cli_starts_without_the_data_libraries() -> None:
    # `shopctl --help`, a typo or `shopctl models list` should not wait for polars, numpy, onnxruntime, pydantic
    # or scikit-learn (0.33 s of imports); each command loads what it needs when it runs (engine/infra/lazy.py).
    script = (
        "import json, sys\n"
        "import console.cli.main\n"
        "heavy = ('polars', 'numpy', 'onnxruntime', 'pydantic', 'sklearn', 'textual')\n"
        "print(json.dumps(sorted(name for name in heavy if name in sys.modules)))\n"
    )
    assert _last_json_line(script) == []


def test_lazy_package_attributes_resolve_and_unknown_names_fail() -> None:
    import engine.scoring
    from engine.features import session_spec
    from engine.ingest import ingest_files
    from engine.scoring.stream import score_file

    assert engine.scoring.score_file is score_file and callable(ingest_files) and callable(session_spec)
    try:
        engine.scoring.nope  # noqa: B018
    except AttributeError as error:
        assert "engine.scoring" in str(error) and "nope" in str(error)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")
