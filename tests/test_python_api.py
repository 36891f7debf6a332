"""docs/python-api.md's script runs as written, and `import engine` names the API without loading it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _doc_script() -> str:
    text = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/python-api.md must open with a python block"
    return blocks[0]


def test_the_documented_script_runs_and_does_what_it_says(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _doc_script()], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows_stored, version, status = result.stdout.split()[-3:]
    assert int(rows_stored) > 10_000 and int(version) == 1 and status in ("ok", "warning", "critical")
    assert (tmp_path / "myshop" / "scores.parquet").stat().st_size > 0
    assert (tmp_path / "myshop" / "registry" / "conversion" / "v1" / "model.onnx").exists()


def test_import_engine_is_light_and_names_the_api() -> None:
    script = (
        "import json, sys, engine\n"
        "heavy = [m for m in ('polars', 'numpy', 'onnxruntime', 'sklearn') if m in sys.modules]\n"
        "names = sorted(engine.__all__)\n"
        "found = [n for n in names if callable(getattr(engine, n))]\n"
        "print(json.dumps({'heavy': heavy, 'names': names, 'found': found}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    assert payload["heavy"] == []  # measured before any attribute was used
    assert payload["found"] == payload["names"] and "run_monitor" in payload["names"]
