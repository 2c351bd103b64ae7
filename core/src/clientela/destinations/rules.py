"""A small rule language for rule-based segments, compiled to a SQL predicate.

Agencies write rules such as `days_since_last_order >= 120 and total_spent > 500`
in a config file or on the command line, so the language is deliberately a
Python-looking expression with nothing executable in it: field names,
numbers, strings, comparisons (`== != < <= > >=`, `in`, `not in`, `is None`,
`is not None`), `and`, `or`, `not` and parentheses. It is parsed with `ast`
and every node is checked against that list before any SQL is written, so a
rule can never run code or reach a column that is not a contact field.
A comparison with a missing value (a customer with no orders) is false.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
            ast.GtE: ">="}


class RuleError(ValueError):
    """The rule is not valid; the message says where and what is allowed."""


def compile_rule(text: str, columns: Collection[str]) -> str:
    """The rule as a DuckDB boolean expression over `columns` (quoted identifiers)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise RuleError(f"rule {text!r}: not a valid expression ({error.msg})") from None
    return f"coalesce({_node(tree.body, columns)}, false)"


def _literal(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if value is None:
            return "NULL"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, int | float):
        return repr(-node.operand.value)
    raise RuleError(f"expected a number or a quoted string, got {ast.unparse(node)!r}")


def _operand(node: ast.expr, columns: Collection[str]) -> str:
    if isinstance(node, ast.Name):
        if node.id not in columns:
            known = ", ".join(sorted(columns))
            raise RuleError(f"unknown field {node.id!r}; known: {known}")
        return f'"{node.id}"'
    return _literal(node)


def _compare(node: ast.Compare, columns: Collection[str]) -> str:
    parts: list[str] = []
    left = node.left
    for op, right in zip(node.ops, node.comparators, strict=True):
        lhs = _operand(left, columns)
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.Tuple | ast.List | ast.Set) or not right.elts:
                raise RuleError("`in` needs a list of values, e.g. rfm_segment in ('Lost', 'At Risk')")
            values = ", ".join(_literal(item) for item in right.elts)
            parts.append(f"{lhs} {'NOT IN' if isinstance(op, ast.NotIn) else 'IN'} ({values})")
        elif isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise RuleError("`is` compares only with None: `clv is None`")
            parts.append(f"{lhs} IS {'NOT ' if isinstance(op, ast.IsNot) else ''}NULL")
        elif type(op) in _COMPARE:
            parts.append(f"{lhs} {_COMPARE[type(op)]} {_operand(right, columns)}")
        else:
            raise RuleError(f"operator {type(op).__name__} is not allowed")
        left = right
    return "(" + " AND ".join(parts) + ")"


def _node(node: ast.expr, columns: Collection[str]) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(_node(value, columns) for value in node.values) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"(NOT {_node(node.operand, columns)})"
    if isinstance(node, ast.Compare):
        return _compare(node, columns)
    raise RuleError(f"{ast.unparse(node)!r} is not allowed in a rule: use fields, numbers, "
                    "strings, comparisons, and/or/not")
