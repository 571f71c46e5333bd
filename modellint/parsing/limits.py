"""Bounds on config trees, checked once per file before anything walks them.

A parsed config tree can be hostile without being invalid: YAML aliases can
share one subtree so often that expanding it means billions of values
("billion laughs"), a recursive alias (``a: &a [*a]``) makes a cycle, and
``[[[[...]]]]`` or a chain of Python names (``a1 = dict(x=a0)``, ``a2 =
dict(x=a1)``, …) nests deeper than any recursive merge, ``to_plain`` or
pickle (the process pool and the cache pickle results) can follow. One
iterative pass measures every root (shared subtrees are measured once), so
the check itself is linear in the number of distinct nodes.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from modellint.parsing.tree import Mapping, Node, Sequence as SequenceNode

MAX_DEPTH = 100  # real configs nest < 20 levels; pickle overflows near 160
MAX_EXPANDED = 1_000_000  # values once every alias is expanded (a 5 MB file has fewer)


def _values(node: Node) -> List[Node]:
    return [value for _, value in node.items] if isinstance(node, Mapping) else node.items


def tree_problem(roots: Sequence[Node]) -> Optional[str]:
    """Why these trees must not be used (the end of a sentence about the document), or None."""
    # Only containers are tracked (keys are scalars: leaves); scalars count 1 value and 1 level.
    containers = (Mapping, SequenceNode)
    depth: Dict[int, int] = {}  # id → levels in the subtree (an empty container is 1, a scalar 1)
    size: Dict[int, int] = {}  # id → values in the subtree with every alias expanded
    for root in roots:
        if not isinstance(root, containers):
            continue
        # iterative post-order; ``open_`` holds the containers on the current path (cycle check)
        open_ = set()
        stack: List[Tuple[Node, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                open_.discard(key)
                height, count = 0, 1 + (len(node.items) if isinstance(node, Mapping) else 0)
                for kid in _values(node):
                    if isinstance(kid, containers):
                        height = max(height, depth[id(kid)])
                        count += size[id(kid)]
                    else:
                        height = max(height, 1)
                        count += 1
                depth[key] = height + 1
                size[key] = count
                if depth[key] > MAX_DEPTH:
                    return f"nests more than {MAX_DEPTH} levels deep; not read"
                if count > MAX_EXPANDED:
                    return (f"expands to more than {MAX_EXPANDED:,} values once its aliases are expanded (an alias bomb, "
                            "as in 'billion laughs'); not read")
                continue
            if key in depth:
                continue
            if key in open_:
                return "contains itself through a recursive alias (such as `a: &a [*a]`); not read"
            open_.add(key)
            stack.append((node, True))
            for kid in _values(node):
                if isinstance(kid, containers) and id(kid) not in depth:
                    stack.append((kid, False))
    return None
