"""Ingest benchmark: `shopctl ingest --preset rees46` against the floor of the same work done plainly.

The floor leg is a plain polars read of the file, the REES46 timestamp parse and a date-partitioned Parquet
write (no mapping, quarantine, dedupe or sessions); the ingest leg is the real command in a fresh workspace.
Each leg runs as its own subprocess and its peak resident memory comes from os.wait4 (ru_maxrss). Input files
are generated once (seeded, REES46-shaped: 30 days, time-sorted like the public monthly exports) and reused.

Usage: python bench/bench_ingest.py [--rows 10000000] [--format parquet|csv|both] [--data /tmp/shopctl-bench]
       [--again]   (also time a second ingest of the same file into the same store: every row a duplicate)
       [--code DIR] (time the shopctl of another checkout, e.g. `git worktree add /tmp/before <commit>`)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAYS = 30
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]
CODES = ["electronics.smartphone", "appliances.kitchen.refrigerators", "apparel.shoes", "computers.notebook"]
BRANDS = ["samsung", "apple", "xiaomi", "huawei", "lucente", "bosch"]
CHUNK = 2_000_000


def make_chunk(rows: int, offset: int, total: int, seed: int):  # noqa: ANN201 - a polars DataFrame
    """Rows offset..offset+rows of a time-sorted REES46-shaped month (strings like the public CSV)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed + offset)
    start = np.datetime64("2019-10-01T00:00:00", "s")
    span = DAYS * 86_400
    seconds = np.sort(rng.integers(offset * span // total, (offset + rows) * span // total, rows))
    times = (start + seconds.astype("timedelta64[s]")).astype(str)
    users = rng.integers(500_000_000, 500_000_000 + max(1, total // 20), rows)
    frame = pl.DataFrame(
        {
            "event_time": pl.Series(times).str.replace("T", " ") + " UTC",
            "event_type": np.array(EVENT_TYPES)[rng.choice(4, rows, p=[0.9, 0.06, 0.025, 0.015])],
            "product_id": rng.integers(1_000_000, 1_200_000, rows),
            "category_id": rng.integers(2_053_013_552_226_107_603, 2_053_013_552_226_207_603, rows),
            "category_code": pl.Series(np.array(CODES)[rng.integers(0, 4, rows)]).set(
                pl.Series(rng.random(rows) < 0.3), None
            ),
            "brand": pl.Series(np.array(BRANDS)[rng.integers(0, 6, rows)]).set(
                pl.Series(rng.random(rows) < 0.15), None
            ),
            "price": np.round(rng.gamma(2.0, 150.0, rows), 2),
            "user_id": users,
            # One session per user per 6-hour block (deterministic), missing on about 1 row in 10,000.
            "block": seconds // 21_600,
        }
    )
    session = pl.concat_str([pl.col("user_id").cast(pl.String), pl.lit("-"), pl.col("block").cast(pl.String)])
    missing = pl.Series(rng.random(rows) < 1e-4)
    return frame.with_columns(user_session=pl.when(missing).then(None).otherwise(session)).drop("block")


def generate(path: Path, rows: int, seed: int = 46) -> Path:
    """Write the file once (CSV or Parquet by suffix), chunk by chunk; reuse it when it exists."""
    import polars as pl

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    started = time.perf_counter()
    if path.suffix == ".csv":
        with open(partial, "wb") as handle:
            for offset in range(0, rows, CHUNK):
                chunk = make_chunk(min(CHUNK, rows - offset), offset, rows, seed)
                chunk.write_csv(handle, include_header=offset == 0)
    else:
        chunks = []
        for offset in range(0, rows, CHUNK):
            chunks.append(path.with_suffix(f".{offset}.part"))
            make_chunk(min(CHUNK, rows - offset), offset, rows, seed).write_parquet(chunks[-1])
        pl.scan_parquet(chunks).sink_parquet(partial, compression="snappy")
        for chunk in chunks:
            chunk.unlink()
    partial.rename(path)
    print(
        f"generated {path} ({rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB) in "
        f"{time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    return path


FLOOR = """
import sys, polars as pl
source, target = sys.argv[1], sys.argv[2]
frame = pl.read_parquet(source) if source.endswith(".parquet") else pl.read_csv(source)
frame = frame.with_columns(
    pl.col("event_time").str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S UTC"),
).with_columns(date=pl.col("event_time").dt.date())
frame.write_parquet(target, compression="zstd", partition_by="date")
"""


def run_leg(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in GB, exit code) of one subprocess, measured with os.wait4."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code:
            errors.seek(0)
            print(errors.read().decode(errors="replace")[-2000:], file=sys.stderr)
    return wall, usage.ru_maxrss * 1024 / 1e9, code


def bench(path: Path, again: bool, code: Path | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="shopctl-bench-ingest-", dir=path.parent))
    try:
        floor_cmd = [sys.executable, "-c", FLOOR, str(path), str(work / "floor")]
        floor = run_leg(floor_cmd)
        shopctl = [str(Path(sys.executable).with_name("shopctl"))]
        env = None
        if (
            code is not None
        ):  # another checkout's shopctl (e.g. the commit before a change), same interpreter;
            # run from inside it, since `python -m` puts the working folder before PYTHONPATH
            shopctl, env = [sys.executable, "-m", "console.cli.main"], {**os.environ, "PYTHONPATH": str(code)}
        subprocess.run(
            [*shopctl, "init", str(work / "ws")], check=True, capture_output=True, env=env, cwd=code
        )
        ingest_cmd = [*shopctl, "ingest", str(path), "--preset", "rees46", "-w", str(work / "ws")]
        ingest = run_leg(ingest_cmd, env, code)
        print(f"file     {path} ({path.stat().st_size / 1e6:,.0f} MB)")
        print(
            f"floor    {floor[0]:6.1f} s  {floor[1]:5.2f} GB  (polars read -> parse -> date-partitioned write)"
        )
        print(f"ingest   {ingest[0]:6.1f} s  {ingest[1]:5.2f} GB  exit {ingest[2]}  ({' '.join(ingest_cmd)})")
        print(f"ratio    {ingest[0] / floor[0]:6.2f}x wall, {ingest[1] / floor[1]:.2f}x memory")
        if again:
            repeat = run_leg(ingest_cmd, env, code)
            print(
                f"again    {repeat[0]:6.1f} s  {repeat[1]:5.2f} GB  exit {repeat[2]}  (every row a duplicate)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--format", choices=("parquet", "csv", "both"), default="both")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "shopctl-bench")
    parser.add_argument("--again", action="store_true")
    parser.add_argument("--code", type=Path, help="time this checkout's shopctl instead (PYTHONPATH)")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows)
        return
    print(
        f"command  python bench/bench_ingest.py --rows {args.rows} --format {args.format}"
        f"{' --again' if args.again else ''}{f' --code {args.code}' if args.code else ''}  ({os.cpu_count()} cpus)"
    )
    formats = ("parquet", "csv") if args.format == "both" else (args.format,)
    for kind in formats:
        # Generated in a child: the legs' peak RSS must not inherit this process's memory (ru_maxrss survives
        # fork and exec), so this parent never imports polars.
        path = args.data / f"rees46-{args.rows}.{kind}"
        if not path.exists():
            command = [sys.executable, __file__, "--rows", str(args.rows), "--generate-only", str(path)]
            subprocess.run(command, check=True)
        bench(path, args.again, args.code)


if __name__ == "__main__":
    main()
