"""Which columns of a shared table the answers of a call can depend on.

A shared table is written out with every column its builder gives (the valid orders carry
ten order columns and three amounts), but a call rarely reads them all: the unsliced
catalogue never reads a store or a salesperson, and no built-in metric reads a coupon.
Every column written costs the write and the database's memory for as long as the table
lives, so the engine writes only the columns some reader's answer can depend on.

A reader names columns it does not use: `valid_orders` selects every order column, and a
metric then aggregates one of them. So the columns used are found by following each answer
back to the table, relation by relation, keeping at each step only the columns the step
above needs (a projection needs what its kept values read, a filter adds its predicates,
an aggregate its keys and kept measures, a join its conditions). A relation of a kind not
listed here, or a value that reads a whole relation (a subquery), needs every column of
what it reads: the answer errs on the side of writing a column, never of dropping one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import ibis.expr.operations as ops

if TYPE_CHECKING:
    from ibis.common.graph import Node


def columns_used(roots: Iterable[ops.Relation], targets: Iterable[ops.Relation]
                 ) -> dict[ops.Relation, set[str]]:
    """For each of `targets`, the columns the results of `roots` (every column of each)
    can depend on; a target the roots do not reach gets an empty set."""
    roots = list(roots)
    graph = _graph(roots)
    needed = {root: set(root.schema.names) for root in roots}
    for node in reversed(_toposort(graph)):  # every consumer before what it consumes
        if isinstance(node, ops.Relation):
            _demand(node, needed.get(node, set()), needed)
    return {target: needed.get(target, set()) for target in targets}


def _demand(node: ops.Relation, wanted: set[str],
            needed: dict[ops.Relation, set[str]]) -> None:
    """Add to `needed` what `node` reads of the relations under it, to give `wanted`."""
    if isinstance(node, ops.Project):
        _add(needed, node.parent, ())
        _values([node.values[name] for name in wanted if name in node.values], needed)
    elif isinstance(node, ops.Filter):
        _add(needed, node.parent, wanted)
        _values(node.predicates, needed)
    elif isinstance(node, ops.Sort):
        _add(needed, node.parent, wanted)
        _values(node.keys, needed)
    elif isinstance(node, ops.Limit | ops.Sample | ops.Reference | ops.DropColumns
                    | ops.FillNull):
        _add(needed, node.parent, wanted)
    elif isinstance(node, ops.DropNull):  # the rows kept depend on the columns checked
        _add(needed, node.parent, wanted)
        if node.subset is None:
            _add(needed, node.parent, node.parent.schema.names)
        else:
            _values(node.subset, needed)
    elif isinstance(node, ops.Aggregate):
        _add(needed, node.parent, ())
        _values([*node.groups.values(),
                 *[value for name, value in node.metrics.items() if name in wanted]], needed)
    elif isinstance(node, ops.JoinChain):
        _add(needed, node.first, ())
        for link in node.rest:
            _add(needed, link.table, ())
            _values(link.predicates, needed)
        _values([node.values[name] for name in wanted if name in node.values], needed)
    elif isinstance(node, ops.Union) and not node.distinct:
        _add(needed, node.left, wanted)
        _add(needed, node.right, wanted)
    elif isinstance(node, ops.PhysicalTable) and not isinstance(node, ops.AliasedRelation):
        return
    else:  # any other relation: everything it reads, whole
        for child in node.__children__:
            if isinstance(child, ops.Relation):
                _add(needed, child, child.schema.names)
            elif isinstance(child, ops.Value):
                _values([child], needed)


def _values(values: Iterable[Node], needed: dict[ops.Relation, set[str]]) -> None:
    """Record the columns `values` read: each field's column of its relation; every column
    of a relation a value reads whole (a subquery); none for a row count."""
    seen: set[Node] = set()
    todo = list(values)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, ops.Field):
            _add(needed, node.rel, (node.name,))
            continue
        for child in node.__children__:
            if isinstance(child, ops.Relation):
                row_count = isinstance(node, ops.CountStar)
                _add(needed, child, () if row_count else child.schema.names)
            else:
                todo.append(child)


def _add(needed: dict[ops.Relation, set[str]], relation: ops.Relation,
         columns: Iterable[str]) -> None:
    needed.setdefault(relation, set()).update(columns)


def _graph(roots: Iterable[Node]) -> dict[Node, tuple[Node, ...]]:
    """Every node under `roots`, each with its children (one walk, shared nodes once)."""
    graph: dict[Node, tuple[Node, ...]] = {}
    todo = deque(roots)
    while todo:
        node = todo.popleft()
        if node in graph:
            continue
        graph[node] = children = tuple(node.__children__)
        todo.extend(child for child in children if child not in graph)
    return graph


def _toposort(graph: Mapping[Node, tuple[Node, ...]]) -> list[Node]:
    """The nodes of `graph`, each after every node it reads."""
    waiting = {node: len(set(children)) for node, children in graph.items()}
    readers: dict[Node, list[Node]] = {}
    for node, children in graph.items():
        for child in set(children):
            readers.setdefault(child, []).append(node)
    ready = deque(node for node, count in waiting.items() if not count)
    order: list[Node] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for reader in readers.get(node, ()):
            waiting[reader] -= 1
            if not waiting[reader]:
                ready.append(reader)
    return order
