"""Connected components over match keys, rule by rule, on arrays (numpy and scipy).

Records are numbered 0..n-1 in customer_id order, so a component's smallest number is its
smallest customer_id: the person's id. Rules run in order of trust; each one joins the
components the previous rules built wherever its keys connect them, unless

- a key is shared by more than `shared_limit` of those components (a family phone, a shop's
  counter e-mail): it joins nothing and is listed as a `shared` conflict;
- the group the rule would build carries two or more different valid CPFs: under the
  `keep_apart` policy the group is not joined by that rule at all (the CPF wins), under
  `merge` it is; either way each key of that rule inside the group is listed as a `cpf`
  conflict.

Every step is a function of the sets of keys, never of the order rows arrive in, so the same
records always give the same persons. Manual merges are applied last, on top of the rules;
records split off by hand take part in no rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

NOT_JOINED = -1
MANUAL = "manual"


@dataclass(frozen=True)
class RuleKeys:
    """One rule's keys: record i holds key keys[j] for each j with nodes[j] == i."""

    rule: str
    nodes: np.ndarray
    keys: np.ndarray


@dataclass(frozen=True)
class Conflict:
    """A key that did not join (or, under `merge`, joined despite) what it connects."""

    kind: str
    """'shared' (too many persons share it) or 'cpf' (different valid CPFs)."""
    rule: str
    key: int
    nodes: np.ndarray
    persons: int
    cpfs: int


@dataclass
class Components:
    labels: np.ndarray
    """The person of each record: the smallest record number of its component."""
    joined: np.ndarray
    """Index in `rule_names` of the rule that first joined each record to another
    (NOT_JOINED: a person of its own)."""
    rule_names: list[str]
    conflicts: list[Conflict] = field(default_factory=list)


def _components(count: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The connected components of a graph of `count` vertices, labelled by their smallest
    vertex."""
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)),
                       shape=(count, count)).tocsr()
    _, label = connected_components(graph, directed=False)
    smallest = np.full(label.max() + 1 if count else 0, count, dtype=np.int64)
    np.minimum.at(smallest, label, np.arange(count, dtype=np.int64))
    result: np.ndarray = smallest[label]
    return result


def _distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (first, second) pairs, both non-negative: sorted as one int64 each
    (a 1-D unique is several times faster than a unique over rows)."""
    if not len(first):
        return first, second
    base = np.int64(second.max()) + 1
    pairs = np.sort(first.astype(np.int64) * base + second)
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    return pairs // base, pairs % base


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True, return_counts=True)` for a sorted array,
    without sorting it again."""
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, len(values)))
    return values[starts], np.repeat(np.arange(len(starts)), counts), counts


def _cpf_counts(group_of: np.ndarray, cpf: RuleKeys | None, labels: np.ndarray) -> np.ndarray:
    """How many different CPFs each group (indexed like `group_of`'s values) carries."""
    counts = np.zeros(len(group_of), dtype=np.int64)
    if cpf is None or not len(cpf.nodes):
        return counts
    groups, _ = _distinct_pairs(group_of[labels[cpf.nodes]], cpf.keys)
    np.add.at(counts, groups, 1)
    return counts


class _Members:
    """The records of each component, for listing conflicts without a pass per conflict
    (sorted on first use: most steps list no conflict)."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.order: np.ndarray | None = None
        self.sorted = labels

    def of(self, comps: np.ndarray) -> np.ndarray:
        if self.order is None:
            self.order = np.argsort(self.labels, kind="stable")
            self.sorted = self.labels[self.order]
        starts = np.searchsorted(self.sorted, comps, "left")
        ends = np.searchsorted(self.sorted, comps, "right")
        return np.sort(np.concatenate([self.order[a:b] for a, b in zip(starts, ends, strict=True)]))


def _grown(labels: np.ndarray, new_labels: np.ndarray, count: int) -> np.ndarray:
    """Records whose component was joined to another in this step."""
    comps = np.flatnonzero(labels == np.arange(count))  # a component is labelled by its smallest
    per_group = np.bincount(new_labels[comps], minlength=count)
    grown: np.ndarray = per_group[new_labels] > 1
    return grown


def resolve(count: int, rules: Sequence[RuleKeys], *, cpf: RuleKeys | None = None,
            manual: tuple[np.ndarray, np.ndarray] | None = None,
            isolated: np.ndarray | None = None, shared_limit: int = 3,
            policy: str = "keep_apart") -> Components:
    """The persons of `count` records. `cpf` are the valid CPFs used to find conflicts
    (whether or not the cpf rule is one of `rules`); `isolated` marks records split off by
    hand; `manual` are pairs of records merged by hand."""
    labels = np.arange(count, dtype=np.int64)
    joined = np.full(count, NOT_JOINED, dtype=np.int64)
    names = [keys.rule for keys in rules] + [MANUAL]
    conflicts: list[Conflict] = []
    for index, keys in enumerate(rules):
        nodes, key = keys.nodes, keys.keys
        if isolated is not None and len(nodes) and isolated.any():
            keep = ~isolated[nodes]
            nodes, key = nodes[keep], key[keep]
        if not len(nodes):
            continue
        held, key_comp = _distinct_pairs(key, labels[nodes])  # sorted by key
        unique_keys, inverse, persons = _runs(held)
        sharing = persons[inverse]
        members = _Members(labels)
        if keys.rule != "cpf":
            for position in np.flatnonzero(persons > shared_limit):
                conflicts.append(Conflict(
                    "shared", keys.rule, int(unique_keys[position]),
                    members.of(key_comp[inverse == position]), int(persons[position]), 0))
            usable = (sharing > 1) & (sharing <= shared_limit)
        else:
            usable = sharing > 1
        if not usable.any():
            continue
        comp, key_index = key_comp[usable], inverse[usable]
        # a bipartite graph: components are vertices 0..count-1, keys count..count+K-1
        group = _components(count + len(unique_keys), comp, count + key_index)[:count]
        cpfs = _cpf_counts(group, cpf, labels)
        clashing = cpfs[group[comp]] > 1
        if clashing.any():
            order = np.argsort(key_index, kind="stable")
            bounds = np.searchsorted(key_index[order], np.unique(key_index[clashing]))
            for position, start in zip(np.unique(key_index[clashing]), bounds, strict=True):
                end = np.searchsorted(key_index[order], position, "right")
                key_comps = comp[order[start:end]]
                conflicts.append(Conflict("cpf", keys.rule, int(unique_keys[position]),
                                          members.of(key_comps), len(key_comps),
                                          int(cpfs[group[key_comps[0]]])))
            if policy == "keep_apart":
                apart = np.unique(comp[clashing])
                group[apart] = apart
        new_labels = group[labels]
        joined[_grown(labels, new_labels, count) & (joined == NOT_JOINED)] = index
        labels = new_labels
    if manual is not None and len(manual[0]):
        group = _components(count, labels[manual[0]], labels[manual[1]])
        new_labels = group[labels]
        joined[_grown(labels, new_labels, count) & (joined == NOT_JOINED)] = len(rules)
        labels = new_labels
    return Components(labels, joined, names, conflicts)
