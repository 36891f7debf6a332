"""A cache of rewritten graphs and their feed plans, so a scoring process need not import onnx or rerun the probe.

Rewriting a graph means importing onnx (with ml_dtypes, 0.3 to 1 s on our box), parsing the model, rewriting it and
probing both graphs: paid by every `shopctl score` run for the same model version. The result depends only on the
model bytes, the inputs, the fetched outputs and the rewrite code, so it is stored under a hash of all four (the
fastpath sources themselves, so a changed rewrite never reads an old entry) in the workspace's state folder.
An entry is two files written atomically; one that is unreadable or incomplete is recomputed, and a cache that
cannot be written is skipped (scoring never fails for its cache).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from engine.scoring.fastpath.feeds import FeedPlan, MatrixFeed, NumericBlock, StringEncoder

COUNTERS = ("scalers", "folded", "merged", "pruned", "trees")


@cache
def _code_hash() -> str:
    """sha256 of the fastpath package's sources: a rewrite that changes makes new cache keys."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(onnx_bytes: bytes, inputs: Sequence[tuple[str, str]], outputs: Sequence[str] | None) -> str:
    """The entry name of a model's rewrite: a hash of its bytes, inputs, outputs and the rewrite code."""
    digest = hashlib.sha256(onnx_bytes)
    digest.update(json.dumps([list(map(list, inputs)), outputs, _code_hash()]).encode())
    return digest.hexdigest()


def plan_to_dict(plan: FeedPlan) -> dict[str, Any]:
    return {
        "encoders": {name: encoder.vocabulary for name, encoder in plan.encoders.items()},
        "blocks": [[block.name, list(block.columns), block.dtype] for block in plan.blocks],
        "matrices": [
            [matrix.name, [list(segment) for segment in matrix.segments]] for matrix in plan.matrices
        ],
        "dropped": sorted(plan.dropped),
        **{name: getattr(plan, name) for name in COUNTERS},
    }


def plan_from_dict(payload: dict[str, Any]) -> FeedPlan:
    return FeedPlan(
        encoders={name: StringEncoder(list(vocabulary)) for name, vocabulary in payload["encoders"].items()},
        blocks=[NumericBlock(name, tuple(columns), dtype) for name, columns, dtype in payload["blocks"]],
        matrices=[
            MatrixFeed(name, tuple((column, category) for column, category in segments))
            for name, segments in payload["matrices"]
        ],
        dropped=set(payload["dropped"]),
        **{name: int(payload[name]) for name in COUNTERS},
    )


def read_entry(folder: Path, key: str) -> tuple[bytes, FeedPlan] | None:
    """The cached (graph bytes, plan) for key, or None when absent or unreadable."""
    try:
        payload = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        graph = (folder / f"{key}.onnx").read_bytes()
        if hashlib.sha256(graph).hexdigest() != payload["graph_sha256"]:
            return None
        return graph, plan_from_dict(payload["plan"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_entry(folder: Path, key: str, graph: bytes, plan: FeedPlan) -> None:
    """Store an entry (graph first, then the plan that names its hash); a failure to write is ignored."""
    from engine.infra.atomic import atomic_write_bytes, atomic_write_json

    payload = {"graph_sha256": hashlib.sha256(graph).hexdigest(), "plan": plan_to_dict(plan)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / f"{key}.onnx", graph)
        atomic_write_json(folder / f"{key}.json", payload)
    except OSError:
        pass
