"""Mapping a function over items on a few threads, for work that is mostly round trips (store, queue)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(work: Callable[[T], R], items: Sequence[T], workers: int, name: str = "io") -> list[R]:
    """``work`` on every item, results in the items' order; on up to ``workers`` threads when there
    are several items (one at a time otherwise). The first exception raised is raised."""
    workers = min(workers, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(work, items))
