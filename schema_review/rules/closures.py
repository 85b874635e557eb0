"""Conditions compiled to Python closures: the fast path for the common subset.

Most conditions are attribute reads, comparisons and boolean logic. Jinja runs each
evaluation through a template context and the sandbox's attribute hook (about 10 us);
the closures here do the same in about 1 us. They are not a second sandbox: every attribute
and item read goes through the sandbox's own `getattr` / `getitem` (which wrap `str.format`
and refuse unsafe attributes), every call through its checks, every operator Jinja's sandbox
intercepts through `call_binop`, and `~` through `concat_bounded`, exactly as the code Jinja
compiles does. The only shortcut is for an attribute the sandbox already allowed on the same
type, when its value is not a method (a method might be `str.format`, which the sandbox wraps).
Anything outside the subset (loops, calls of globals, filters that need a context) returns
None and the rule runs on Jinja, so the semantics never fork.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import BuiltinMethodType, MethodType
from typing import Any, NoReturn

from jinja2 import Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import make_attrgetter

from schema_review.rules.sandbox import RULE_OUTPUT_LIMIT, BoundedSandbox, check_output

Names = dict[str, Any]
Closure = Callable[[Names], Any]
Renderer = Callable[[Names], str]
# A template statement: reads names (and may set one), appends its output.
_Step = Callable[[Names, list[str]], None]

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
_BINARY: dict[type[nodes.Expr], tuple[str, Callable[[Any, Any], Any]]] = {
    nodes.Add: ("+", operator.add),
    nodes.Sub: ("-", operator.sub),
    nodes.Mul: ("*", operator.mul),
    nodes.Mod: ("%", operator.mod),
}
# A bound method named `format` or `format_map` may be `str.format`, which the sandbox wraps
# (`wrap_str_format` asks the same): such values are read through the sandbox every time.
_METHOD_TYPES = frozenset({BuiltinMethodType, MethodType})
_FORMATTERS = frozenset({"format", "format_map"})
_TESTS: dict[str, Callable[[Any], bool]] = {
    "none": lambda value: value is None,
    "string": lambda value: isinstance(value, str),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}


class _Unsupported(Exception):
    pass


def compile_closure(expression: nodes.Expr, env: BoundedSandbox) -> Closure | None:
    """A closure computing `expression`, or None when it is outside the subset."""
    try:
        return _compile(expression, env)
    except _Unsupported:
        return None


def compile_renderer(
    template: nodes.Template, env: BoundedSandbox, limit: int = RULE_OUTPUT_LIMIT
) -> Renderer | None:
    """A function rendering `template` as Jinja would, or None when it is outside the subset.

    The subset of statements is output, `if` / `elif` / `else` and `set` of a plain name, so
    message and fix templates of the built-in rules render without a Jinja context. Output
    longer than `limit` characters raises LimitExceeded.
    """
    try:
        steps = [_statement(node, env) for node in template.body]
    except _Unsupported:
        return None
    assigns = any(True for _ in template.find_all(nodes.Assign))

    def render(names: Names) -> str:
        if assigns:
            names = dict(names)  # `set` must not leak into the caller's names
        out: list[str] = []
        for step in steps:
            step(names, out)
        return check_output("".join(out), limit)

    return render


def _statement(node: nodes.Node, env: BoundedSandbox) -> _Step:
    if isinstance(node, nodes.Output):
        parts: list[tuple[str | None, Closure | None]] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((child.data, None))
            else:
                parts.append((None, _compile(child, env)))

        def output(names: Names, out: list[str]) -> None:
            for data, value in parts:
                out.append(data if value is None else str(value(names)))  # type: ignore[arg-type]

        return output
    if isinstance(node, nodes.If):
        branches = [(_compile(node.test, env), [_statement(n, env) for n in node.body])]
        for elif_ in node.elif_:
            branches.append((_compile(elif_.test, env), [_statement(n, env) for n in elif_.body]))
        otherwise = [_statement(n, env) for n in node.else_]

        def if_(names: Names, out: list[str]) -> None:
            chosen = otherwise
            for test, body in branches:
                if test(names):
                    chosen = body
                    break
            for step in chosen:
                step(names, out)

        return if_
    if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
        name = node.target.name
        if name == "result":
            raise _Unsupported  # `result` is what a condition template hands back: Jinja's job
        value = _compile(node.node, env)

        def assign(names: Names, out: list[str]) -> None:
            names[name] = value(names)

        return assign
    raise _Unsupported


def _compile(node: nodes.Node, env: BoundedSandbox) -> Closure:
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda names: value
    if isinstance(node, nodes.Name):
        return _name(node.name)
    if isinstance(node, nodes.Getattr):
        return _getattr(_compile(node.node, env), node.attr, env)
    if isinstance(node, nodes.Getitem):
        return _getitem(_compile(node.node, env), node.arg, env)
    if isinstance(node, nodes.Not):
        inner = _compile(node.node, env)
        return lambda names: not inner(names)
    if isinstance(node, nodes.Neg):  # words[-1]
        operand = _compile(node.node, env)
        return lambda names: -operand(names)
    if isinstance(node, nodes.And):
        left, right = _compile(node.left, env), _compile(node.right, env)
        return lambda names: left(names) and right(names)
    if isinstance(node, nodes.Or):
        left, right = _compile(node.left, env), _compile(node.right, env)
        return lambda names: left(names) or right(names)
    if isinstance(node, nodes.CondExpr):
        test, yes = _compile(node.test, env), _compile(node.expr1, env)
        # Without an else, Jinja yields an undefined value: empty when printed, false when tested.
        no = _compile(node.expr2, env) if node.expr2 is not None else lambda names: Undefined()
        return lambda names: yes(names) if test(names) else no(names)
    if isinstance(node, nodes.Dict):
        pairs = [(_compile(p.key, env), _compile(p.value, env)) for p in node.items]
        return lambda names: {key(names): value(names) for key, value in pairs}
    if isinstance(node, nodes.Filter):
        return _filter(node, env)
    if isinstance(node, nodes.Call):
        return _call(node, env)
    if isinstance(node, nodes.Compare):
        return _compare(node, env)
    if isinstance(node, nodes.Test) and node.name == "defined" and not node.args:
        inner = _compile(node.node, env)

        def defined(names: Names) -> bool:
            try:
                return not isinstance(inner(names), Undefined)
            except UndefinedError:
                return False

        return defined
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
        concat = env.concat_bounded
        return lambda names: concat([part(names) for part in parts])
    if type(node) in _BINARY:
        assert isinstance(node, nodes.BinExpr)
        symbol, function = _BINARY[type(node)]
        left, right = _compile(node.left, env), _compile(node.right, env)
        if symbol in env.intercepted_binops:  # as Jinja's sandbox compiles them
            binop = env.call_binop
            return lambda names: binop(None, symbol, left(names), right(names))
        return lambda names: function(left(names), right(names))
    raise _Unsupported


def _name(name: str) -> Closure:
    def read(names: Names) -> Any:
        try:
            return names[name]
        except KeyError:
            raise UndefinedError(f"'{name}' is undefined") from None

    return read


def _undefined(value: Undefined) -> NoReturn:
    """Fail as Jinja's strict undefined fails when used: UndefinedError, or SecurityError for
    an attribute the sandbox refused. (Jinja fails when the value is used; the closures fail
    when it is read, which for a condition or a message is the same.)"""
    value._fail_with_undefined_error()
    raise AssertionError("unreachable: a strict undefined fails")  # pragma: no cover


def _getattr(target: Closure, attr: str, env: BoundedSandbox) -> Closure:
    """`x.attr` as the sandbox reads it (`env.getattr`): the attribute if safe, else the item."""
    if attr.startswith("_"):
        raise _Unsupported  # let the sandbox refuse it, with its own message
    sandboxed = env.getattr
    # Types whose `attr` the sandbox already allowed (its verdict depends on the type and
    # the name only): unless the value is a method named like str.format's, the read costs
    # one set lookup.
    allowed: set[type] = set()
    # A key of a plain dict (a rule's options) that is no attribute of dicts: the sandbox
    # tries the attribute, fails, and answers the item, which is all this reads.
    dict_key = not hasattr(dict, attr)

    def read(names: Names) -> Any:
        obj = target(names)
        kind = type(obj)
        if kind is dict and dict_key:
            item = obj.get(attr, _MISSING)
            if item is not _MISSING:
                return item
        elif kind in allowed:
            value: Any = getattr(obj, attr, _MISSING)
            if value is not _MISSING and (
                type(value) not in _METHOD_TYPES or value.__name__ not in _FORMATTERS
            ):
                return value
        value = sandboxed(obj, attr)
        if isinstance(value, Undefined):
            return _undefined(value)
        if env.is_safe_attribute(obj, attr, value):
            allowed.add(kind)
        return value

    return read


_MISSING = object()


def _getitem(target: Closure, arg: nodes.Node, env: BoundedSandbox) -> Closure:
    """`x[key]` and `x[a:b]` as the sandbox reads them (`env.getitem`): the item, else a safe
    attribute."""
    if isinstance(arg, nodes.Slice):
        if arg.step is not None:
            raise _Unsupported
        start = _compile(arg.start, env) if arg.start is not None else lambda names: None
        stop = _compile(arg.stop, env) if arg.stop is not None else lambda names: None
        return lambda names: target(names)[start(names) : stop(names)]
    key_of = _compile(arg, env)
    sandboxed = env.getitem

    def read(names: Names) -> Any:
        value = sandboxed(target(names), key_of(names))
        if isinstance(value, Undefined):
            return _undefined(value)
        return value

    return read


def _filter(node: nodes.Filter, env: BoundedSandbox) -> Closure:
    if node.node is None or node.kwargs or node.dyn_args or node.dyn_kwargs:
        raise _Unsupported
    value = _compile(node.node, env)
    args = [_compile(arg, env) for arg in node.args]
    if node.name == "join" and len(args) <= 1:
        # Jinja's join without autoescape: str(separator).join(map(str, value)), bounded.
        separator = args[0] if args else lambda names: ""
        join = env.join
        return lambda names: join(separator(names), value(names))
    if node.name in ("select", "reject", "selectattr", "rejectattr"):
        return _select(node.name, value, args, env)
    if node.name == "list" and not args:  # Jinja's list and length are async-aware wrappers
        return lambda names: list(value(names))
    if node.name in ("length", "count") and not args:
        return lambda names: len(value(names))
    function = env.filters.get(node.name)  # the sandbox's filters: checked and bounded
    if function is None or hasattr(function, "jinja_pass_arg"):
        raise _Unsupported  # unknown, or needs a context: Jinja reports and runs those
    return lambda names: function(value(names), *(arg(names) for arg in args))


def _select(name: str, value: Closure, args: list[Closure], env: BoundedSandbox) -> Closure:
    """select / reject (items passing a test) and selectattr / rejectattr (an attribute,
    read through the sandbox, passing a test), as Jinja's filters compute them."""
    by_attribute = name.endswith("attr")
    keep = name.startswith("select")
    attribute: Closure | None = None
    if by_attribute:
        if not args:
            raise _Unsupported
        attribute, *args = args
    if not args:
        raise _Unsupported  # a bare select() tests truthiness: rare, left to Jinja
    test_name, *test_args = args

    def run(names: Names) -> Any:
        test = test_name(names)
        arguments = [arg(names) for arg in test_args]
        # Jinja's own attribute getter: dotted paths, read with the sandbox's getitem.
        read = make_attrgetter(env, attribute(names)) if attribute is not None else None
        for item in value(names):
            subject = read(item) if read is not None else item
            if bool(env.call_test(test, subject, arguments)) == keep:
                yield item

    return run


def _call(node: nodes.Call, env: BoundedSandbox) -> Closure:
    """A method call such as `hints.get(kind, default)`, as the sandbox makes it (`env.call`):
    a callable the sandbox refuses is an error, arguments that would build a value over the
    limit are refused, the result is bounded. (`str.format` arrives here already wrapped by
    the sandbox's getattr.)"""
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not isinstance(node.node, nodes.Getattr):
        raise _Unsupported
    method = _compile(node.node, env)
    args = [_compile(arg, env) for arg in node.args]

    def call(names: Names) -> Any:
        function = method(names)
        arguments = tuple(arg(names) for arg in args)
        if hasattr(function, "jinja_pass_arg"):  # wants a context, as Jinja would give it
            context = env.context_class(env, names, "<rule>", {})
            return env.call(context, function, *arguments)
        if not env.is_safe_callable(function):
            raise SecurityError(f"{function!r} is not safely callable")
        arguments = env.check_call(function, arguments, {})
        return env.bounded(function(*arguments))

    return call


def _compare(node: nodes.Compare, env: BoundedSandbox) -> Closure:
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
