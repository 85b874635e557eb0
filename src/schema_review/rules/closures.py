"""Conditions compiled to Python closures: the fast path for the common subset.

Most conditions are attribute reads, comparisons and boolean logic. Jinja runs each
evaluation through a template context and the sandbox's attribute hook (about 10 us);
the closures here do the same reads in about 1 us, asking the same sandbox whether each
attribute is safe. Anything outside the subset (calls, filters, loops) returns None
and the rule runs on Jinja as before, so the semantics never fork.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

Names = dict[str, Any]
Closure = Callable[[Names], Any]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_BINARY: dict[type[nodes.Expr], Callable[[Any, Any], Any]] = {
    nodes.Add: operator.add,
    nodes.Sub: operator.sub,
    nodes.Mul: operator.mul,
    nodes.Mod: operator.mod,
}
_TESTS: dict[str, Callable[[Any], bool]] = {"none": lambda value: value is None}


class _Unsupported(Exception):
    pass


def compile_closure(expression: nodes.Expr, env: SandboxedEnvironment) -> Closure | None:
    """A closure computing `expression`, or None when it is outside the subset."""
    try:
        return _compile(expression, env)
    except _Unsupported:
        return None


def _compile(node: nodes.Node, env: SandboxedEnvironment) -> Closure:
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda names: value
    if isinstance(node, nodes.Name):
        return _name(node.name)
    if isinstance(node, nodes.Getattr):
        return _getattr(_compile(node.node, env), node.attr, env)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        key = node.arg.value
        if isinstance(key, str):
            return _getattr(_compile(node.node, env), key, env)
        raise _Unsupported
    if isinstance(node, nodes.Not):
        inner = _compile(node.node, env)
        return lambda names: not inner(names)
    if isinstance(node, nodes.And):
        left, right = _compile(node.left, env), _compile(node.right, env)
        return lambda names: left(names) and right(names)
    if isinstance(node, nodes.Or):
        left, right = _compile(node.left, env), _compile(node.right, env)
        return lambda names: left(names) or right(names)
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        test, yes, no = (_compile(n, env) for n in (node.test, node.expr1, node.expr2))
        return lambda names: yes(names) if test(names) else no(names)
    if isinstance(node, nodes.Compare):
        return _compare(node, env)
    if isinstance(node, nodes.Test) and node.name in _TESTS and not node.args:
        test = _TESTS[node.name]
        value = _compile(node.node, env)
        return lambda names: test(value(names))
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_compile(item, env) for item in node.items]
        build = list if isinstance(node, nodes.List) else tuple
        return lambda names: build(item(names) for item in items)
    if isinstance(node, nodes.Concat):
        parts = [_compile(part, env) for part in node.nodes]
        return lambda names: "".join(str(part(names)) for part in parts)
    if type(node) in _BINARY:
        assert isinstance(node, nodes.BinExpr)
        function = _BINARY[type(node)]
        left, right = _compile(node.left, env), _compile(node.right, env)
        return lambda names: function(left(names), right(names))
    raise _Unsupported


def _name(name: str) -> Closure:
    def read(names: Names) -> Any:
        try:
            return names[name]
        except KeyError:
            raise UndefinedError(f"'{name}' is undefined") from None

    return read


def _getattr(target: Closure, attr: str, env: SandboxedEnvironment) -> Closure:
    if attr.startswith("_"):
        raise _Unsupported  # let the sandbox refuse it, with its own message

    def read(names: Names) -> Any:
        obj = target(names)
        try:
            value = getattr(obj, attr)
        except AttributeError:
            try:
                return obj[attr]
            except (TypeError, LookupError):
                raise UndefinedError(
                    f"{type(obj).__name__!r} object has no attribute {attr!r}"
                ) from None
        if not env.is_safe_attribute(obj, attr, value):
            raise SecurityError(
                f"access to attribute {attr!r} of {type(obj).__name__!r} object is unsafe."
            )
        return value

    return read


def _compare(node: nodes.Compare, env: SandboxedEnvironment) -> Closure:
    first = _compile(node.expr, env)
    steps = []
    for operand in node.ops:
        if operand.op not in _COMPARE:
            raise _Unsupported
        steps.append((_COMPARE[operand.op], _compile(operand.expr, env)))

    def compare(names: Names) -> bool:
        left = first(names)
        for function, right_of in steps:
            right = right_of(names)
            if not function(left, right):
                return False
            left = right
        return True

    return compare
