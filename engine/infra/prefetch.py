"""Overlap producing the next item with consuming this one, on a worker thread.

polars releases the GIL while it reads and computes, onnxruntime while it runs, so a producer that reads or
aggregates on the worker overlaps a consumer that scores or writes on the caller's thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """Yield the items while the next one is produced on a worker thread.

    One item is produced ahead (memory: two items); the iterator only ever advances on the worker, one step at a
    time; an error while producing surfaces here, in order.
    """
    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopctl-ahead") as pool:
        pending = pool.submit(next, items, done)
        while True:
            ready = [pending.result()]
            if ready[0] is done:
                return
            pending = pool.submit(next, items, done)
            # Handed over, not kept: while the caller works on it, this frame holds no reference, so the caller
            # can free an item (or part of it) before asking for the next one.
            yield ready.pop()  # type: ignore[misc]
