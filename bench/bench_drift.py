"""Benchmark: shopctl's drift report against Evidently's data-drift preset on the same frames.

Each leg runs in its own subprocess so its peak memory (ru_maxrss) is its own. shopctl's time is the reference
profile built once from the reference frame plus the drift report on the current frame (the domain classifier
included); Evidently's is one Report([DataDriftPreset()]).run on the same two frames. The statistics both compute
are compared twice: on Evidently's own bins (our stats functions against its stat tests: the same formulas), and
as the two reports print them (ours from the profile, Evidently's from the raw reference frame).

Needs Evidently, which requires pandas < 3, so run it from a separate venv, never the project's:

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install -e '/work/main[bench]'
    /work/bench-venv/bin/python bench/bench_drift.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

NUMERIC = [f"num_{i:02d}" for i in range(20)]
CARDINALITIES = (3, 10, 50, 300, 1000)
CATEGORICAL = [f"cat_{cardinality}" for cardinality in CARDINALITIES]


def make_frame(rows: int, seed: int, *, drifted: bool) -> pl.DataFrame:
    """20 numeric columns of mixed shapes and 5 categorical ones (cardinality 3 to 1000, Zipf-like)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for position, name in enumerate(NUMERIC):
        shift = 0.3 if drifted and position % 4 == 0 else 0.0
        shape = position % 4
        if shape == 0:
            values = rng.normal(10 * position + shift * (1 + position), 1 + position, rows)
        elif shape == 1:
            values = rng.lognormal(2 + shift, 0.6, rows)
        elif shape == 2:
            values = rng.exponential(5 * (1 + shift), rows)
        else:
            values = rng.poisson(3 + 10 * shift, rows).astype(np.float64)
        columns[name] = values
    for cardinality, name in zip(CARDINALITIES, CATEGORICAL, strict=True):
        weights = 1.0 / np.arange(1, cardinality + 1) ** (1.2 if drifted and cardinality == 10 else 1.0)
        labels = np.array([f"{name}_v{code}" for code in range(cardinality)])
        columns[name] = labels[rng.choice(cardinality, rows, p=weights / weights.sum())]
    return pl.DataFrame(columns)


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """User plus system CPU time of this process (all threads): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def leg_shopctl(folder: Path) -> dict:
    from engine.config import MonitorConfig
    from engine.monitoring.drift import drift_report
    from engine.monitoring.profile import build_reference_profile
    from engine.spec import TableSpec

    # The domain classifier imports scikit-learn on first use; a daemon pays that once, so it is not timed.
    importlib.import_module("engine.monitoring.domain")
    for module in ("sklearn.ensemble", "sklearn.metrics", "sklearn.model_selection", "threadpoolctl"):
        importlib.import_module(module)

    reference = pl.read_parquet(folder / "reference.parquet")
    current = pl.read_parquet(folder / "current.parquet")
    loaded_mb = peak_memory_mb()
    spec = TableSpec(numeric=tuple(NUMERIC), categorical=tuple(CATEGORICAL))
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    profile = build_reference_profile(reference, spec, seed=0)
    profiled = time.perf_counter()
    report = drift_report(profile, current, MonitorConfig())
    finished = time.perf_counter()
    return {
        "cpu_seconds": cpu_seconds() - cpu_started,
        "profile_seconds": profiled - started,
        "report_seconds": finished - profiled,
        "seconds": finished - started,
        "loaded_mb": loaded_mb,
        "peak_mb": peak_memory_mb(),
        "profile_bytes": len(json.dumps(profile)),
        "domain_auc": report.multivariate["auc"] if report.multivariate else None,
        "share": report.share,
        "columns": {
            f.name: {"method": f.method, "statistic": f.statistic, "drifted": f.drifted}
            for f in report.features
        },
    }


def leg_evidently(folder: Path) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    loaded_mb = peak_memory_mb()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    finished = time.perf_counter()
    cpu_used = cpu_seconds() - cpu_started
    peak_mb = peak_memory_mb()
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            columns[config["column"]] = {"method": config["method"], "statistic": float(metric["value"])}
    return {
        "seconds": finished - started,
        "cpu_seconds": cpu_used,
        "loaded_mb": loaded_mb,
        "peak_mb": peak_mb,
        "columns": columns,
        "same_bins": same_bin_agreement(reference, current),
    }


def same_bin_agreement(reference, current) -> dict:
    """Max |ours - Evidently| for PSI and Jensen-Shannon computed on Evidently's own bins (same formulas)."""
    from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.core import ColumnType

    from engine.monitoring import stats

    differences: dict[str, float] = {"psi": 0.0, "jensenshannon": 0.0}
    for name in NUMERIC + CATEGORICAL:
        reference_values, current_values = reference[name], current[name]
        if name in NUMERIC and reference_values.nunique() > 20:
            kind = ColumnType.Numerical
            edges = np.histogram_bin_edges(np.concatenate([reference_values, current_values]), bins="sturges")
            reference_counts = np.histogram(reference_values, edges)[0]
            current_counts = np.histogram(current_values, edges)[0]
        else:
            kind = ColumnType.Numerical if name in NUMERIC else ColumnType.Categorical
            keys = sorted(set(reference_values.unique()) | set(current_values.unique()))
            reference_counts = reference_values.value_counts().reindex(keys, fill_value=0).to_numpy()
            current_counts = current_values.value_counts().reindex(keys, fill_value=0).to_numpy()
        theirs_psi = _psi(reference_values, current_values, kind, 0.1)[0]
        theirs_js = _jensenshannon(reference_values, current_values, kind, 0.1)[0]
        differences["psi"] = max(
            differences["psi"], abs(stats.psi(reference_counts, current_counts) - theirs_psi)
        )
        differences["jensenshannon"] = max(
            differences["jensenshannon"],
            abs(stats.jensenshannon(reference_counts, current_counts) - theirs_js),
        )
    return differences


def run_leg(leg: str, folder: Path) -> dict:
    command = [sys.executable, __file__, "--leg", leg, "--data", str(folder)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{leg} leg failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def compare_reports(ours: dict, theirs: dict) -> dict[str, float]:
    """Max |ours - Evidently| per method as each report prints it, where both chose the same method."""
    labels = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon"}
    differences: dict[str, float] = {}
    for name, their_column in theirs["columns"].items():
        method = labels.get(their_column["method"])
        our_column = ours["columns"][name]
        if method is None or our_column["method"] != method:
            continue
        key = method if name in NUMERIC else f"{method} (cardinality {name.split('_')[1]})"
        difference = abs(our_column["statistic"] - their_column["statistic"])
        differences[key] = max(differences.get(key, 0.0), difference)
    return differences


def bench(rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as folder:
        folder_path = Path(folder)
        make_frame(rows, 1, drifted=False).write_parquet(folder_path / "reference.parquet")
        make_frame(rows, 2, drifted=True).write_parquet(folder_path / "current.parquet")
        ours = run_leg("shopctl", folder_path)
        theirs = run_leg("evidently", folder_path)
    our_drifted = sorted(name for name, column in ours["columns"].items() if column["drifted"])
    print(f"\n## {rows:,} rows × (20 numeric + 5 categorical), reference and current")
    print(
        f"shopctl   : {ours['seconds']:.2f} s wall, {ours['cpu_seconds']:.2f} s CPU (profile "
        f"{ours['profile_seconds']:.2f} s + report {ours['report_seconds']:.2f} s), peak RSS {ours['peak_mb']:.0f} MB "
        f"(after loading the data: {ours['loaded_mb']:.0f} MB), profile {ours['profile_bytes'] / 1e6:.2f} MB JSON, "
        f"domain AUC {ours['domain_auc']:.3f}"
    )
    print(
        f"evidently : {theirs['seconds']:.2f} s wall, {theirs['cpu_seconds']:.2f} s CPU, peak RSS "
        f"{theirs['peak_mb']:.0f} MB (after loading the data: {theirs['loaded_mb']:.0f} MB)"
    )
    print(
        f"speed-up  : {theirs['seconds'] / ours['seconds']:.1f}× wall, "
        f"{theirs['cpu_seconds'] / ours['cpu_seconds']:.1f}× CPU (report alone: "
        f"{theirs['seconds'] / ours['report_seconds']:.1f}× wall); "
        f"peak RSS {theirs['peak_mb'] / ours['peak_mb']:.2f}× lower"
    )
    print(f"drifted (shopctl): {', '.join(our_drifted)}")
    print(
        "max |ours - evidently| on Evidently's bins: "
        + ", ".join(f"{key} {value:.2e}" for key, value in theirs["same_bins"].items())
    )
    print(
        "max |ours - evidently| as reported (ours from the profile): "
        + ", ".join(f"{key} {value:.2e}" for key, value in compare_reports(ours, theirs).items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--leg", choices=["shopctl", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.leg:
        leg = leg_shopctl if arguments.leg == "shopctl" else leg_evidently
        print(json.dumps(leg(arguments.data)))
        return
    print("command: " + " ".join([Path(sys.executable).as_posix(), *sys.argv]))
    for rows in arguments.rows:
        bench(rows)


if __name__ == "__main__":
    main()
