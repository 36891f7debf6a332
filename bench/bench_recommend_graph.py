"""The recommender ONNX graph at catalog scale, in-process (labelled so): users/s of top-10 for each scoring
form on synthetic parts over N items, beside `implicit`'s own ALS `recommend` on the same factors.

The simulator's catalog is 3,000 items; the issue's goal is 20 k users/s over 20 k items on 2 cores. This
builds the parts the candidates export (popularity bias, ALS fold-in factors, an item-kNN block on the
`max_ease_items` subset, and their fusion) with random values of the right shapes, and serves 20,480 users with
~20 history items each in `[recommend] batch_users` chunks through a fresh onnxruntime session, dense inputs
built per batch as serving builds them.

    python bench/bench_recommend_graph.py                       # 20,000 items, 20,480 users (~1 min here)
    python bench/bench_recommend_graph.py --items 20000 --batch 4096
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--users", type=int, default=20480)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--subset", type=int, default=8000, help="item-kNN block size (max_ease_items)")
    parser.add_argument("--batch", type=int, default=256, help="users per ONNX run ([recommend] batch_users)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    from scipy import sparse
    from threadpoolctl import threadpool_limits

    from models.recommend.onnx_export import export_onnx, session
    from models.recommend.scorer import LinearScorer, Part

    rng = np.random.default_rng(0)
    n, f, m = args.items, args.factors, min(args.subset, args.items)
    item_factors = rng.standard_normal((n, f)).astype(np.float32)
    fold = rng.standard_normal((n, f)).astype(np.float32) / np.sqrt(n)
    knn = np.where(rng.random((m, m)) < 100 / m, rng.random((m, m)), 0).astype(np.float32)
    popularity = rng.zipf(1.5, n).astype(np.float32)
    forms = {
        "popularity": [Part(bias=popularity)],
        "als": [Part(left=fold, right=item_factors.T.copy())],
        "itemknn": [Part(left=knn, items=np.arange(m))],
        "fused": [
            Part(bias=popularity, weight=0.2),
            Part(left=fold, right=item_factors.T.copy(), weight=0.5),
            Part(left=knn, items=np.arange(m), weight=0.3),
        ],
    }
    rows = np.repeat(np.arange(args.users), 20)
    columns = rng.integers(0, n, rows.size)
    history = sparse.csr_matrix((np.ones(rows.size, np.float32), (rows, columns)), shape=(args.users, n))
    history.data[:] = 1.0
    print(
        f"{n:,} items, {args.users:,} users x ~20 history items, batch {args.batch}, {args.threads} threads"
    )
    for name, parts in forms.items():
        runner = session(export_onnx(LinearScorer(n, parts), 100), threads=args.threads)
        start = time.perf_counter()
        for first in range(0, args.users, args.batch):
            block = history[first : first + args.batch]
            dense = block.toarray()
            exclude = np.zeros_like(dense)
            runner.run(["indices", "scores"], {"history": dense, "exclude": exclude})
        seconds = time.perf_counter() - start
        print(f"ours (ONNX, in-process) {name:<11} {args.users / seconds:>9,.0f} users/s")

    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=f, iterations=1, random_state=0)
    model.item_factors = item_factors
    model.user_factors = rng.standard_normal((args.users, f)).astype(np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        model.recommend(np.arange(args.users), history, N=10, filter_already_liked_items=True)
        seconds = time.perf_counter() - start
    print(
        f"implicit ALS recommend (in-process)  {args.users / seconds:>9,.0f} users/s (its own user factors)"
    )
    print("command: python bench/bench_recommend_graph.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
