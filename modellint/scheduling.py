"""How work is cut into pieces for a process pool."""

from __future__ import annotations

from typing import List, Sequence, TypeVar

T = TypeVar("T")


def guided_chunks(items: Sequence[T], jobs: int, largest: int = 64) -> List[List[T]]:
    """``items`` in order, in pieces that shrink towards the end (guided scheduling): big
    pieces first for few round trips, one item at the end so that no worker is left
    alone with a long last piece while the others wait."""
    chunks: List[List[T]] = []
    start = 0
    while start < len(items):
        size = max(1, min(largest, (len(items) - start) // (jobs * 4)))
        chunks.append(list(items[start:start + size]))
        start += size
    return chunks
