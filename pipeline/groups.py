"""Connected groups of items linked pairwise (union-find), for merging geometries."""

from __future__ import annotations

from collections.abc import Iterable


def connected_groups(n: int, links: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Indices ``0..n-1`` grouped by the links between them, each group in index order."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in links:
        parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())
