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

import ast
import operator
from collections.abc import Callable, Iterator, Sequence
from keyword import iskeyword
from typing import Any, NoReturn

from jinja2 import Environment, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.utils import _PassArg

from schema_review.rules.runtime import (
    _FORMATTERS,
    _METHOD_TYPES,
    _MISSING,
    _PLAIN_STR_METHODS,
    HELPERS,
    RULE_FILTERS,
    Filters,
    _Constant,
    _undefined_name,
    _undefined_value,
    plain_caller,
)
from schema_review.rules.sandbox import RULE_OUTPUT_LIMIT, BoundedSandbox, check_output

Names = dict[str, Any]
Closure = Callable[[Names], Any]
Renderer = Callable[[Names], str]
# A condition run on many subjects (`batch_source`): names, the subjects, their name ->
# each subject it holds on or failed on, and whether it failed.
Batch = Callable[[Names, Sequence[Any], str], Iterator[tuple[Any, bool]]]
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
_TESTS: dict[str, Callable[[Any], bool]] = {
    "none": lambda value: value is None,
    "string": lambda value: isinstance(value, str),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}


class _Unsupported(Exception):
    pass


def with_jinja_globals(env: Environment, names: Names) -> Names:
    """`names` with the globals of Jinja's sandbox that the names of a run lack (those of
    runtime.RuleSandbox: not `cycler`, `joiner`, `namespace`), for a Jinja context, which
    looks every name up in them. A copy only when one is missing."""
    for key in env.globals:
        if key not in names:
            return {**env.globals, **names}
    return names


def compile_closure(expression: nodes.Expr, env: BoundedSandbox) -> Closure | None:
    """A closure computing `expression`, or None when it is outside the subset."""
    try:
        return _compile(expression, env)
    except _Unsupported:
        return None


def compile_python(expression: nodes.Expr, env: BoundedSandbox) -> Closure | None:
    """`expression` as one compiled Python function (see `_Generator`), or None when it is
    outside the subset. Several times faster than the closures, but compiling costs as much
    as a few hundred evaluations: for conditions evaluated on many subjects."""
    try:
        return _generate(expression, env)
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
    if isinstance(node, nodes.For):
        return _for(node, env)
    if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
        name = node.target.name
        if name == "result":
            raise _Unsupported  # `result` is what a condition template hands back: Jinja's job
        value = _compile(node.node, env)

        def assign(names: Names, out: list[str]) -> None:
            names[name] = value(names)

        return assign
    raise _Unsupported


def _for(node: nodes.For, env: BoundedSandbox) -> _Step:
    """`{% for name in items %}...{% endfor %}`, or `{% for name in items if test %}`: the
    body once an item (that passes the test), with `name` set in names of the loop's own (as
    Jinja scopes it). Without `loop`, `else`, recursion, unpacking or a `set` in the body
    (Jinja's scoping of those is its own)."""
    target = _loop_target(node)
    items = _compile(node.iter, env)
    test = _compile(node.test, env) if node.test is not None else None
    body = [_statement(child, env) for child in node.body]

    def for_(names: Names, out: list[str]) -> None:
        inner = dict(names)
        for item in items(names):
            inner[target] = item
            if test is not None and not test(inner):
                continue  # `for x in xs if test`: Jinja leaves the item out
            for step in body:
                step(inner, out)

    return for_


def _loop_target(node: nodes.For, numbered: bool = False) -> str:
    """The name a loop of the subset sets (raises _Unsupported for any other loop);
    `numbered`: its body may read `loop` (the Python code's loops count their items)."""
    if (
        node.else_
        or node.recursive
        or not isinstance(node.target, nodes.Name)
        or any(True for _ in node.find_all((nodes.Assign, nodes.AssignBlock)))
        or (not numbered and any(name.name == "loop" for name in node.find_all(nodes.Name)))
    ):
        raise _Unsupported
    return node.target.name


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


def _getattr(
    target: Closure, attr: str, env: BoundedSandbox, allowed: set[type] | None = None
) -> Closure:
    """`x.attr` as the sandbox reads it (`env.getattr`): the attribute if safe, else the item."""
    if attr.startswith("_"):
        raise _Unsupported  # let the sandbox refuse it, with its own message
    sandboxed = env.getattr
    # Types whose `attr` the sandbox already allowed (its verdict depends on the type and
    # the name only): unless the value is a method named like str.format's, the read costs
    # one set lookup.
    if allowed is None:
        allowed = set()
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
        # (Not a plain dict for a key: its attributes never have that name.)
        if env.is_safe_attribute(obj, attr, value) and not (kind is dict and dict_key):
            allowed.add(kind)
        return value

    return read


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
    if node.node is None or node.dyn_args or node.dyn_kwargs:
        raise _Unsupported
    value = _compile(node.node, env)
    args = [_compile(arg, env) for arg in node.args]
    if node.kwargs:
        return _filter_call(node, value, args, env)
    if node.name == "join" and len(args) <= 1:
        # Jinja's join without autoescape: str(separator).join(map(str, value)), bounded.
        separator = args[0] if args else lambda names: ""
        join = env.join
        return lambda names: join(separator(names), value(names))
    if node.name in ("select", "reject", "selectattr", "rejectattr"):
        try:
            return _select(node.name, value, args, env)
        except _Unsupported:  # a bare select: Jinja's own filter tests truthiness
            return _filter_call(node, value, args, env)
    if node.name == "list" and not args:  # Jinja's list and length are async-aware wrappers
        return lambda names: list(value(names))
    if node.name in ("length", "count") and not args:
        return lambda names: len(value(names))
    return _filter_call(node, value, args, env)


def _filter_call(
    node: nodes.Filter, value: Closure, args: list[Closure], env: BoundedSandbox
) -> Closure:
    """A filter called as the code Jinja compiles calls it: the sandbox's function (checked
    and bounded), given first what it asks for (the environment, an evaluation context, or a
    context over the names), then the value, the arguments and the keyword arguments."""
    function = env.filters.get(node.name)
    if function is None:
        raise _Unsupported  # unknown: Jinja reports it
    kwargs = [(str(keyword.key), _compile(keyword.value, env)) for keyword in node.kwargs]
    passed = _PassArg.from_obj(function)
    if passed is None:
        if kwargs:
            return lambda names: function(
                value(names),
                *[arg(names) for arg in args],
                **{key: given(names) for key, given in kwargs},
            )
        return lambda names: function(value(names), *(arg(names) for arg in args))
    first: Callable[[Names], Any]
    if passed is _PassArg.context:
        context_class = env.context_class
        first = lambda names: context_class(  # noqa: E731
            env, with_jinja_globals(env, names), "<rule>", {}
        )
    elif passed is _PassArg.eval_context:
        first = lambda names: EvalContext(env, "<rule>")  # noqa: E731
    elif passed is _PassArg.environment:
        first = lambda names: env  # noqa: E731
    else:
        raise _Unsupported

    def call(names: Names) -> Any:
        return function(
            first(names),
            value(names),
            *[arg(names) for arg in args],
            **{key: given(names) for key, given in kwargs},
        )

    return call


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
    caller = _caller(env)

    def call(names: Names) -> Any:
        function = method(names)
        return caller(names, function, *[arg(names) for arg in args])

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


# -- expressions as Python code --------------------------------------------------------------
#
# The closures above cost a Python call per node of an expression, and a condition is
# evaluated on every subject of its rule (a hundred thousand evaluations on the corpus). The
# common nodes are written instead as one Python expression and compiled into one function:
# the same reads through the same sandbox functions, in the same order, without the calls
# between nodes. Nodes written otherwise run as the closures above, called from that code.
# The source is generated from the syntax tree only (names as repr() literals, every other
# value in the function's globals), never from a rule's text.

_SIMPLE_CONSTANTS = (str, int, bool, type(None))
# The filters `map('name')` applies without Jinja (runtime.Filters.map_<name>).
_MAPPED_FILTERS = ("upper", "quote_ident")
_COMPARE_OPERATORS = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "lteq": "<=",
    "gt": ">",
    "gteq": ">=",
    "in": "in",
    "notin": "not in",
}


def _generate(node: nodes.Node, env: BoundedSandbox) -> Closure:
    """`node` as one compiled Python function of the names (raises _Unsupported as _compile
    does: the subset is the same)."""
    generator = _Generator(env)
    body = generator.expression(node)
    if _closure_alone(body):
        closure: Closure = generator.space[body[:-7]]
        return closure  # a closure alone: nothing to gain
    source = f"def _expression(names):\n    return {body}\n"
    code = compile(source, "<rule expression>", "exec")
    exec(code, generator.space)
    function: Closure = generator.space["_expression"]
    return function


def batch_subject(expression: nodes.Expr) -> str | None:
    """The name of the subject a condition reads, for its batch (`batch_source`): the one
    name it reads that is none of the names every evaluation has (the options, the model,
    the profile, the sandbox's globals) nor `obj`; "" when it reads no such name (it suits
    a subject of any name); None when it reads two (no subject has both: one is undefined,
    which the engine's evaluation one subject at a time reports)."""
    from schema_review.rules.runtime import environment

    context = {"options", "model", "profile", "obj", *environment().globals}
    found = {name.name for name in expression.find_all(nodes.Name)} - context
    if len(found) > 1:
        return None
    return found.pop() if found else ""


def batch_source(body: str, hoisted: list[tuple[str, str]] | None = None) -> str:
    """A condition's batch: a generator of the function's code (`body`, written with the
    subject as the local `_s`: `_Generator(env, subject)`) run on each of `subjects` as
    the engine's loop runs the condition's function (engine._run_rule): a new evaluation
    for the clock, the subject set in `names` as `key` and `obj` (before the evaluation
    when `body` reads `names`, else where the engine reads it); it yields the subjects
    whose value is true, and those whose evaluation failed (to be evaluated again, and
    reported, one at a time), each with whether it failed. One loop for all the subjects,
    without a call of a function and its reads of the subject in `names` for each."""
    computed = ""
    if hoisted:
        # The values the same for every subject, computed once: when one fails, each
        # subject is evaluated one at a time (the engine's _check), as without the batch.
        lines = "".join(f"        {local} = {code}\n" for local, code in hoisted)
        computed = (
            "    try:\n"
            f"{lines}"
            "    except _RUNAWAY:\n"
            "        raise\n"
            "    except Exception:\n"
            "        for _s in subjects:\n"
            "            clock.serial += 1\n"
            "            names[key] = _s\n"
            "            names['obj'] = _s\n"
            "            yield _s, True\n"
            "        return\n"
        )
    # A body that reads no name but the subject's (and the values read before the loop)
    # needs the subject in `names` only where the engine reads it: a subject given, or
    # the one a limit stopped the rule on (engine._run_rule).
    uses_names = "names" in body

    def store(indent: str) -> str:
        return f"{indent}names[key] = _s\n{indent}names['obj'] = _s\n"

    each, given = (store("        "), "") if uses_names else ("", store("            "))
    return (
        "def _batch(names, subjects, key):\n"
        "    clock = _CLOCK\n"
        f"{computed}"
        "    for _s in subjects:\n"
        "        clock.serial += 1  # a new evaluation: its own time budget\n"
        f"{each}"
        "        try:\n"
        f"            _m = {body}\n"
        "        except _RUNAWAY:\n"
        f"{given}"
        "            raise\n"
        "        except Exception:\n"
        f"{given}"
        "            yield _s, True\n"
        "            continue\n"
        "        if _m:  # (outside the `try`, as the engine's loop tests its truth)\n"
        f"{given}"
        "            yield _s, False\n"
    )


def _closure_alone(body: str) -> bool:
    return body.startswith("_c") and body.endswith("(names)") and body[2:-7].isdigit()


class _Generator:
    """Writes an expression's Python source; what it refers to goes into `space`, the
    compiled function's globals."""

    def __init__(self, env: BoundedSandbox, subject: str | None = None) -> None:
        self.env = env
        # The names read as the local `_s` (a batch's subject, see `batch_source`): the
        # subject's own name and `obj`, which the engine sets to the subject alike.
        self.subject_names = frozenset({subject, "obj"}) if subject is not None else frozenset()
        # A batch's values that are the same for every subject (the names other than the
        # subject's, attributes read of them): each computed once, before its loop, as
        # (local, its code), in order; the local of each such name.
        self.batch = subject is not None
        # Reads as a batch reads them (an allowed attribute as Python reads it, a name as
        # an item), without its hoisting: the code of a shipped template's first try, which
        # its plain code renders again when it raises (see _TemplateWriter.function).
        self.direct = self.batch
        self.direct_reads = 0  # how many reads were written so
        self.hoisted: list[tuple[str, str]] = []
        self._hoisted_names: dict[str, str] = {}
        self._hoisted_reads: dict[tuple[str, str], str] = {}  # (its value's local, attr)
        # Each attribute's reader and the types it learnt the sandbox allows it on, one pair
        # for all reads of that attribute (a template's plain and direct code read the
        # same): the verdicts depend on the type and name only. A shipped module binds
        # half the readers it would, one each.
        self._readers: dict[str, tuple[str, str]] = {}
        # Within a `defined` test (its reads must fail as undefined, not raise), and
        # whether the attribute read being written is a method's, to be called.
        self._probing = 0
        self._method_read = False
        self.space: dict[str, Any] = {
            "__builtins__": {},
            "type": type,
            "len": len,
            "list": list,
            "isinstance": isinstance,
            "str": str,
            "_getattr": getattr,
            "_dict": dict,
            "_MISSING": _MISSING,
            "_METHOD_TYPES": _METHOD_TYPES,
            "_FORMATTERS": _FORMATTERS,
            "_undefined_name": _undefined_name,
            "_undefined_value": _undefined_value,
        }
        self.recipes: dict[str, tuple[Any, ...]] = {}
        self.count = 0
        # The loops a template's code is in, innermost last: the names of their index and
        # length, which `loop.index` and its kin read (see _TemplateWriter).
        self.loops: list[tuple[str, str]] = []

    def _helper(self, name: str) -> str:
        """A name bound to runtime.HELPERS[name]."""
        return self._name("_h", HELPERS[name], ("helper", name))

    def _jinja_filter(self, name: str) -> str:
        """A name bound to Jinja's filter `name` as runtime.Filters computes it."""
        return self._name("_jf", getattr(Filters(self.env), name), ("jinja_filter", name))

    def _name(self, prefix: str, value: Any = None, recipe: tuple[Any, ...] = ()) -> str:
        """A fresh name, bound to `value` in `space`; `recipe` says how shipped code (see
        `shipped_module`) makes the same value: (what, arguments...)."""
        self.count += 1
        name = f"{prefix}{self.count}"
        if value is not None:
            self.space[name] = value
            self.recipes[name] = recipe
        return name

    def expression(self, node: nodes.Node) -> str:
        if isinstance(node, nodes.Const):
            value = node.value
            if type(value) in _SIMPLE_CONSTANTS:
                return repr(value)
            return self._name("_k", _Constant(value), ("constant", value)) + ".value"
        if isinstance(node, nodes.Name):
            if node.name == "loop" and self.loops:
                raise _Unsupported  # the loop itself, not one of its numbers: Jinja's
            if node.name in self.subject_names:
                return "_s"
            name = repr(node.name)
            read = f"(names[{name}] if {name} in names else _undefined_name({name}))"
            if self.direct and not self.batch and not self._probing:
                self.direct_reads += 1
                return f"names[{name}]"  # (missing: a KeyError, and the plain code says so)
            if not self.batch or self._probing:
                return read
            local = self._hoisted_names.get(node.name)
            if local is None:  # read once for all the subjects: the engine sets no other
                local = self._hoisted_names[node.name] = self._hoist(read)
            return local
        if isinstance(node, nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "loop" and self.loops:
                return self._loop_attribute(node.attr)
            return self._getattr(node)
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
            # The target, then the key, read as the closure reads them (`_getitem`).
            target, key = self.expression(node.node), self.expression(node.arg)
            return f"{self._helper('item')}({target}, {key})"
        if isinstance(node, nodes.Test) and node.name == "defined" and not node.args:
            # A function of the names, so that an undefined read is caught (as the closure).
            self._probing += 1
            try:
                inner = self.expression(node.node)
            finally:
                self._probing -= 1
            return f"{self._helper('defined')}(names, lambda names: {inner})"
        if isinstance(node, nodes.Dict):  # each key then its value, as the closure's
            pairs = ", ".join(
                f"{self.expression(pair.key)}: {self.expression(pair.value)}" for pair in node.items
            )
            return f"{{{pairs}}}"
        if (
            isinstance(node, nodes.Filter)
            and node.node is not None
            and not (node.dyn_args or node.dyn_kwargs)
            and node.name not in RULE_FILTERS
        ):
            written = self._filter(node)
            if written is not None:
                return written
        if isinstance(node, nodes.Not):
            return f"(not {self.expression(node.node)})"
        if isinstance(node, nodes.Neg):
            return f"(-{self.expression(node.node)})"
        if isinstance(node, nodes.And):
            return f"({self.expression(node.left)} and {self.expression(node.right)})"
        if isinstance(node, nodes.Or):
            return f"({self.expression(node.left)} or {self.expression(node.right)})"
        if isinstance(node, nodes.CondExpr):
            test, yes = self.expression(node.test), self.expression(node.expr1)
            no = self.expression(node.expr2) if node.expr2 is not None else "_undefined_value()"
            return f"({yes} if {test} else {no})"
        if isinstance(node, nodes.Compare):
            parts = [self.expression(node.expr)]
            for operand in node.ops:
                if operand.op not in _COMPARE_OPERATORS:
                    raise _Unsupported
                parts.append(_COMPARE_OPERATORS[operand.op])
                parts.append(self.expression(operand.expr))
            # A chained comparison is Python's too: each operand read once, stopping at the
            # first false step; the closures answer True or False, so does this.
            return f"(True if {' '.join(parts)} else False)"
        if isinstance(node, nodes.Test) and not node.args and node.name == "none":
            return f"({self.expression(node.node)} is None)"
        if isinstance(node, nodes.Test) and not node.args and node.name == "string":
            return f"isinstance({self.expression(node.node)}, str)"
        if (
            isinstance(node, nodes.Filter)
            and node.node is not None
            and not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
            and node.name in ("length", "count", "list")
        ):
            function = "list" if node.name == "list" else "len"
            return f"{function}({self.expression(node.node)})"
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
        ):
            # The method is read first, then the arguments, as in the closure.
            call = self._name("_call", _caller(self.env), ("caller",))
            if self.direct and not self._probing and node.node.attr in _PLAIN_STR_METHODS:
                self.direct_reads += 1
                return self._string_method_call(node, node.node, call)
            self._method_read = True
            method = self.expression(node.node)
            self._method_read = False
            arguments = "".join(f", {self.expression(arg)}" for arg in node.args)
            return f"{call}(names, {method}{arguments})"
        if isinstance(node, nodes.List | nodes.Tuple):
            items = "".join(f"{self.expression(item)}, " for item in node.items)
            return f"[{items}]" if isinstance(node, nodes.List) else f"({items})"
        if type(node) in _BINARY:  # as the closure's: through the sandbox if it intercepts it
            assert isinstance(node, nodes.BinExpr)
            symbol = _BINARY[type(node)][0]
            left, right = self.expression(node.left), self.expression(node.right)
            if symbol in self.env.intercepted_binops:
                binop = self._name("_binop", self.env.call_binop, ("binop",))
                return f"{binop}(None, {symbol!r}, {left}, {right})"
            return f"({left} {symbol} {right})"
        if isinstance(node, nodes.Concat):  # `~`, bounded as the closure's
            concat = self._name("_cat", self.env.concat_bounded, ("concat",))
            pieces = "".join(f"{self.expression(part)}, " for part in node.nodes)
            return f"{concat}([{pieces}])"
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Slice)
            and node.arg.step is None
        ):  # `words[-1:]`: Python's slice, as the closure's
            target = self.expression(node.node)
            start, stop = (
                "None" if bound is None else self.expression(bound)
                for bound in (node.arg.start, node.arg.stop)
            )
            return f"{target}[{start}:{stop}]"
        if (
            isinstance(node, nodes.Filter)
            and node.node is not None
            and node.name in RULE_FILTERS
            and not (node.kwargs or node.dyn_args or node.dyn_kwargs)
        ):  # a filter of the rules' own (`quote_ident`), as the sandbox bounds it
            function = self.env.filters[node.name]
            bound = self._name("_f", function, ("filter", node.name))
            arguments = "".join(f", {self.expression(arg)}" for arg in node.args)
            return f"{bound}({self.expression(node.node)}{arguments})"
        # Anything else: its closure, called from here.
        if self.loops and any(name.name == "loop" for name in node.find_all(nodes.Name)):
            raise _Unsupported  # (the closures know no loop)
        closure = self._name("_c", _compile(node, self.env), ("closure", node))
        return f"{closure}(names)"

    def _loop_attribute(self, attr: str) -> str:
        """`loop.<attr>` of the innermost loop, from its index and length."""
        index, length = self.loops[-1]
        numbers = {
            "index0": index,
            "index": f"({index} + 1)",
            "revindex0": f"({length} - {index} - 1)",
            "revindex": f"({length} - {index})",
            "first": f"({index} == 0)",
            "last": f"({index} == {length} - 1)",
            "length": length,
        }
        if attr not in numbers:
            raise _Unsupported  # cycle, changed, previtem, depth...: Jinja's LoopContext
        return numbers[attr]

    def _filter(self, node: nodes.Filter) -> str | None:
        """The filters of Jinja's that the built-in rules use, as the closures run them (and
        through them Jinja's sandbox), computed by runtime's functions; None for another."""
        name, args = node.name, node.args
        subject = node.node
        assert subject is not None  # (the caller's check)
        keywords = [keyword.key for keyword in node.kwargs]
        if name == "join" and len(args) <= 1 and not keywords:
            # Bounds.join, as the closure's: the separator read first.
            join = self._name("_join", self.env.join, ("join",))
            separator = self.expression(args[0]) if args else "''"
            return f"{join}({separator}, {self.expression(subject)})"
        if name in ("select", "reject", "selectattr", "rejectattr") and not keywords:
            keep = name.startswith("select")
            by_attribute = name.endswith("attr")
            value = self.expression(subject)
            if len(args) == int(by_attribute):  # no test: the items (or attributes) true
                attribute = "".join(f", {self.expression(arg)}" for arg in args)
                return f"{self._helper('select_truthy')}({value}, {keep}{attribute})"
            if len(args) < int(by_attribute) + 1:
                return None
            # A test: every operand read when the first item is asked for, as `_select`'s.
            thunks = [f"lambda names: {self.expression(arg)}" for arg in args]
            attribute = thunks.pop(0) if by_attribute else "None"
            test, *rest = thunks
            arguments = "".join(f"{thunk}, " for thunk in rest)
            select = self._helper("select_tested")
            return (
                f"{select}(names, {keep}, lambda names: {value}, {attribute}, {test},"
                f" ({arguments}))"
            )
        if (
            name == "map"
            and len(args) == 1
            and not keywords
            and isinstance(args[0], nodes.Const)
            and args[0].value in _MAPPED_FILTERS
        ):  # `map('upper')`: a filter that takes the item alone, known when written
            value = self.expression(subject)
            return f"{self._jinja_filter('map_' + args[0].value)}({value})"
        if name == "map" and not args and keywords == ["attribute"]:
            attribute = self.expression(node.kwargs[0].value)
            value = self.expression(subject)
            return f"{self._jinja_filter('map_attribute')}({value}, {attribute})"
        arity = {"upper": 0, "trim": 0, "first": 0, "unique": 0, "truncate": 1, "replace": 2}
        if arity.get(name) == len(args) and not keywords:
            value = self.expression(subject)
            arguments = "".join(f", {self.expression(arg)}" for arg in args)
            return f"{self._jinja_filter(name)}({value}{arguments})"
        return None

    def _getattr(self, node: nodes.Getattr, target: str | None = None) -> str:
        """As `_getattr`'s closure reads it: the value at once when the sandbox allowed the
        attribute on the type before and it is not a method named like str.format's, else
        through the sandbox (`slow`, which also learns the types it allows). `target`: the
        code of `node.node`'s value, when it is read already."""
        method = self._method_read
        self._method_read = False
        attr = node.attr
        if attr.startswith("_"):
            raise _Unsupported  # let the sandbox refuse it, with its own message
        if target is None:
            target = self.expression(node.node)
        # (A method of a value the same for every subject, `model.enum_type`, too: the
        # calls, each of the method read once, are made as they were.)
        hoist = self.batch and not self._probing and target in self.hoisted_locals()
        if hoist and (target, attr) in self._hoisted_reads:
            return self._hoisted_reads[target, attr]  # read once already
        reader = self._readers.get(attr)
        if reader is None:
            allowed: set[type] = set()
            read = _getattr(lambda obj: obj, attr, self.env, allowed)
            types = self._name("_types", allowed, ("types",))
            reader = self._readers[attr] = types, self._name("_read", read, ("reader", attr, types))
        types, slow = reader
        obj = self._name("_o")
        value = self._name("_v")
        allowed_read = (
            f" in {types}"
            f" and ({value} := _getattr({obj}, {attr!r}, _MISSING)) is not _MISSING"
            f" and (type({value}) not in _METHOD_TYPES or {value}.__name__ not in _FORMATTERS)"
        )
        dict_key = not hasattr(dict, attr)
        if not dict_key:
            written = f"({value} if type({obj} := {target}){allowed_read} else {slow}({obj}))"
        else:
            # A key of a plain dict (a rule's options) that is no attribute of dicts: the
            # item, as the closure reads it first (a plain dict has no other attribute).
            written = (
                f"({value} if (type({obj} := {target}){allowed_read})"
                f" or (type({obj}) is _dict"
                f" and ({value} := {obj}.get({attr!r}, _MISSING)) is not _MISSING)"
                f" else {slow}({obj}))"
            )
        if hoist:  # an attribute of a value the same for all subjects: read once
            local = self._hoisted_reads[target, attr] = self._hoist(written)
            return local
        if not self.direct or self._probing or method:
            return written
        if not attr.isidentifier() or iskeyword(attr):
            return written
        # In a batch, an attribute of a type the sandbox allowed it on is read as Python
        # reads it: one that is not there raises (AttributeError, where the sandbox would
        # look further), and the batch gives the subject to be evaluated again one at a
        # time (closures.batch_source), as without the batch. A method (to be checked for
        # str.format's) and any other type take the way above, after the first test.
        self.direct_reads += 1
        otherwise = f"{slow}({obj})"
        if dict_key:
            otherwise = (
                f"({value} if type({obj}) is _dict"
                f" and ({value} := {obj}.get({attr!r}, _MISSING)) is not _MISSING"
                f" else {otherwise})"
            )
        return (
            f"({value} if type({obj} := {target}) in {types}"
            f" and type({value} := {obj}.{attr}) not in _METHOD_TYPES else {otherwise})"
        )

    def _string_method_call(self, node: nodes.Call, method: nodes.Getattr, call: str) -> str:
        """In a batch, `text.lower()` of a plain string called at once and its result
        bounded: what the sandbox's read of the method and `plain_caller` give a plain
        string's method that check_call leaves alone; anything else as written above."""
        obj = self._name("_o")
        target = self.expression(method.node)
        bounded = self._name("_bounded", self.env.bounded, ("bounded",))
        fast = ", ".join(self.expression(arg) for arg in node.args)
        self._method_read = True
        read = self._getattr(method, obj)
        self._method_read = False
        arguments = "".join(f", {self.expression(arg)}" for arg in node.args)
        return (
            f"({bounded}({obj}.{method.attr}({fast})) if type({obj} := {target}) is str"
            f" else {call}(names, {read}{arguments}))"
        )

    def _hoist(self, code: str) -> str:
        """A local computed once before a batch's loop (`code` reads no subject)."""
        local = self._name("_h")
        self.hoisted.append((local, code))
        return local

    def hoisted_locals(self) -> set[str]:
        return {local for local, _ in self.hoisted}


def _caller(env: BoundedSandbox) -> Callable[..., Any]:
    """A method call as the sandbox makes it (`env.call`), given the method and arguments:
    a callable the sandbox refuses is an error, arguments that would build a value over the
    limit are refused, the result is bounded. The common calls are made at once
    (`runtime.plain_caller`, as the sandbox would make them)."""

    def by_sandbox(names: Names, function: Any, *arguments: Any) -> Any:
        if hasattr(function, "jinja_pass_arg"):  # wants a context, as Jinja would give it
            context = env.context_class(env, with_jinja_globals(env, names), "<rule>", {})
            return env.call(context, function, *arguments)
        if not env.is_safe_callable(function):
            raise SecurityError(f"{function!r} is not safely callable")
        arguments = env.check_call(function, arguments, {})
        return env.bounded(function(*arguments))

    return plain_caller(env.bounded, env.is_safe_callable, by_sandbox)


# -- templates as Python code, and expressions shipped as a module ---------------------------
#
# A message or fix template becomes one function too: its text and values appended in order,
# `if` / `elif` / `else` as Python's, `set` of a plain name as an item of a copy of the names;
# a loop of the subset as Python's `for`.


class _TemplateWriter:
    """Writes a template's Python source, its expressions written by a `_Generator`."""

    def __init__(self, env: BoundedSandbox) -> None:
        self.env = env
        self.generator = _Generator(env)
        self.generator.space.update(dict=dict, _check_output=check_output)
        self.lines: list[str] = []

    def function(
        self, template: nodes.Template, name: str, limit: int, plain: str | None = None
    ) -> str:
        """The source of `def name(names)` rendering `template` (raises _Unsupported).
        `plain`: the name of the template's function written without direct reads: this
        one is written with them (see _Generator.direct), and when it raises (an attribute
        or a name that is not there, or any other error) the plain function renders the
        template again, as it renders it alone: it reads as the sandbox reads, and raises
        its own errors."""
        self.lines = [f"def {name}(names):"]
        indent = "    "
        if plain is not None:
            self.lines += ["    _given = names", "    try:"]
            indent = "        "
        parts = _output_parts(template.body)
        if parts is not None:
            # One output, its text and values in order (the common message): joined at
            # once, no list appended to.
            pieces = "".join(
                f"{part.data!r}, "
                if isinstance(part, nodes.TemplateData)
                else f"str({self.generator.expression(part)}), "
                for part in parts
            )
            self.lines.append(f"{indent}_text = ''.join(({pieces}))")
        else:
            if any(True for _ in template.find_all(nodes.Assign)):
                self.lines.append(f"{indent}names = dict(names)  # `set` must not leak")
            self.lines.append(f"{indent}_out = []")
            self.lines.append(f"{indent}_append = _out.append")
            self._statements(template.body, indent)
            self.lines.append(f"{indent}_text = ''.join(_out)")
        if plain is not None:
            self.lines += [
                "    except _RUNAWAY:",
                "        raise",
                "    except Exception:",
                f"        return {plain}(_given)",
            ]
        # The limit's test here, the function that raises only past it: a call less a render.
        self.lines.append(
            f"    return _text if len(_text) <= {limit!r} else _check_output(_text, {limit!r})"
        )
        return "\n".join(self.lines) + "\n"

    def _statements(self, body: list[nodes.Node], indent: str) -> None:
        if not body:
            self.lines.append(f"{indent}pass")
        for node in body:
            self._statement(node, indent)

    def _statement(self, node: nodes.Node, indent: str) -> None:
        expression = self.generator.expression
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    self.lines.append(f"{indent}_append({child.data!r})")
                elif isinstance(child, nodes.CondExpr) and child.expr2 is None:
                    # `{{ x if test }}`: without an else, the undefined value prints nothing.
                    self.lines.append(f"{indent}if {expression(child.test)}:")
                    self.lines.append(f"{indent}    _append(str({expression(child.expr1)}))")
                else:
                    self.lines.append(f"{indent}_append(str({expression(child)}))")
        elif isinstance(node, nodes.If):
            self.lines.append(f"{indent}if {expression(node.test)}:")
            self._statements(node.body, indent + "    ")
            for elif_ in node.elif_:
                self.lines.append(f"{indent}elif {expression(elif_.test)}:")
                self._statements(elif_.body, indent + "    ")
            if node.else_:
                self.lines.append(f"{indent}else:")
                self._statements(node.else_, indent + "    ")
        elif (
            isinstance(node, nodes.Assign)
            and isinstance(node.target, nodes.Name)
            and node.target.name != "result"  # what a condition template hands back
        ):
            value = expression(node.node)
            self.lines.append(f"{indent}names[{node.target.name!r}] = {value}")
        elif (
            isinstance(node, nodes.Assign)
            and isinstance(node.target, nodes.Tuple)
            and node.target.items
            and all(
                isinstance(item, nodes.Name) and item.name != "result" for item in node.target.items
            )
        ):  # `set old, new = ...`: Python's unpacking, as Jinja's compiled code does
            value = expression(node.node)
            targets = ", ".join(
                f"names[{item.name!r}]"
                for item in node.target.items
                if isinstance(item, nodes.Name)
            )
            self.lines.append(f"{indent}{targets}, = {value}")
        elif isinstance(node, nodes.For):
            self._for(node, indent)
        else:  # any other statement: outside the closures' subset
            raise _Unsupported

    def _for(self, node: nodes.For, indent: str) -> None:
        """As `_for`'s closure: the names of the loop's own (a copy), the item set in them.
        A body that reads `loop.index` and its kin (not with a test: Jinja counts only the
        items that pass it) has the items as a list, counted."""
        generator = self.generator
        numbered = any(name.name == "loop" for name in node.find_all(nodes.Name))
        target = _loop_target(node, numbered)
        if numbered and node.test is not None:
            raise _Unsupported
        items = generator.expression(node.iter)  # (a `loop` there is an outer loop's)
        outer, item = generator._name("_names"), generator._name("_item")
        self.lines.append(f"{indent}{outer} = names")
        self.lines.append(f"{indent}names = dict(names)")
        if numbered:
            listed, index, length = (generator._name(p) for p in ("_items", "_index", "_length"))
            self.lines.append(f"{indent}{listed} = list({items})")
            self.lines.append(f"{indent}{length} = len({listed})")
            self.lines.append(f"{indent}{index} = -1")
            self.lines.append(f"{indent}for {item} in {listed}:")
            self.lines.append(f"{indent}    {index} += 1")
            generator.loops.append((index, length))
        else:
            self.lines.append(f"{indent}for {item} in {items}:")
        self.lines.append(f"{indent}    names[{target!r}] = {item}")
        if node.test is not None:
            self.lines.append(f"{indent}    if not {generator.expression(node.test)}:")
            self.lines.append(f"{indent}        continue")
        self._statements(node.body, indent + "    ")
        if numbered:
            generator.loops.pop()
        self.lines.append(f"{indent}names = {outer}")


def _output_parts(body: list[nodes.Node]) -> list[nodes.Expr] | None:
    """The parts of a template that is one output (text and values, none a value shown
    only when a test holds), else None."""
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts: list[nodes.Expr] = body[0].nodes
    if any(isinstance(part, nodes.CondExpr) and part.expr2 is None for part in parts):
        return None
    return parts


def compile_python_renderer(
    template: nodes.Template, env: BoundedSandbox, limit: int = RULE_OUTPUT_LIMIT
) -> Renderer | None:
    """`template` as one compiled Python function rendering it as `compile_renderer`'s
    closures do (the same subset), or None."""
    writer = _TemplateWriter(env)
    try:
        source = writer.function(template, "_render", limit)
    except _Unsupported:
        return None
    space = writer.generator.space
    exec(compile(source, "<rule template>", "exec"), space)
    renderer: Renderer = space["_render"]
    return renderer


def shipped_module(
    conditions: dict[str, nodes.Expr],
    templates: dict[str, nodes.Template],
    env: BoundedSandbox,
    header: str,
    tree_literal: Callable[[nodes.Node], str],
) -> str:
    """A Python module of the expressions (by their source) as `compile_python` and
    `compile_python_renderer` make them, written once when the package is built: a factory
    per expression, given a `Parts`, binds what the function reads and returns it; and
    a factory of each condition's batch (`batch_source`, BATCHES: source -> the subject's
    name it reads, the factory). Those outside the subset are left out. `tree_literal`: a
    syntax tree as a Python literal that `prebuilt._node` rebuilds (for the nodes that run
    as closures)."""
    out = [header.rstrip("\n"), ""]
    tables: dict[str, list[str]] = {"CONDITIONS": [], "TEMPLATES": [], "BATCHES": []}
    for table, items in (
        ("CONDITIONS", conditions),
        ("TEMPLATES", templates),
        ("BATCHES", conditions),
    ):
        for index, (source, tree) in enumerate(sorted(items.items()), 1):
            factory = f"_{_FACTORY_PREFIXES[table]}_{index}"
            row = f"    {source!r}: {factory},"
            try:
                if table == "CONDITIONS":
                    assert isinstance(tree, nodes.Expr)
                    generator = _Generator(env)
                    body = generator.expression(tree)
                    if _closure_alone(body):  # a closure alone: nothing to gain
                        function = f"_function = {body[:-7]}\n"
                    else:
                        function = f"def _function(names):\n    return {body}\n"
                elif table == "BATCHES":
                    assert isinstance(tree, nodes.Expr)
                    subject = batch_subject(tree)
                    if subject is None:
                        continue
                    generator = _Generator(env, subject or "obj")
                    body = generator.expression(tree)
                    function = batch_source(body, generator.hoisted)
                    function = function.replace("_batch", "_function", 1)
                    row = f"    {source!r}: ({subject!r}, {factory}),"
                else:
                    assert isinstance(tree, nodes.Template)
                    writer = _TemplateWriter(env)
                    function = writer.function(tree, "_function", RULE_OUTPUT_LIMIT)
                    generator = writer.generator
                    # A first try with direct reads (each render of the corpus's ~10,000
                    # reads a few attributes), the plain function when it raises.
                    direct = _TemplateWriter(env)
                    direct.generator = generator
                    generator.direct, generator.direct_reads = True, 0
                    fast = direct.function(tree, "_function", RULE_OUTPUT_LIMIT, "_plain")
                    generator.direct = False
                    if generator.direct_reads:
                        function = function.replace("_function", "_plain", 1) + fast
                lines = [
                    f"{name} = {_recipe(recipe, tree_literal)}"
                    for name, recipe in generator.recipes.items()
                ]
            except _Unsupported:
                continue
            inner = "".join(f"    {line}\n" for line in [*lines, *function.splitlines()])
            out.append(f"\ndef {factory}(rt):\n{inner}    return _function\n")
            tables[table].append(row)
    for table, rows in tables.items():
        out.append(f"\n{table} = {{\n" + "\n".join(rows) + "\n}\n")
    return "\n".join(out)


# The names of the factories of each table of the shipped module.
_FACTORY_PREFIXES = {"CONDITIONS": "condition", "TEMPLATES": "template", "BATCHES": "batch"}


def _recipe(recipe: tuple[Any, ...], tree_literal: Callable[[nodes.Node], str]) -> str:
    """The Python source making a value `_Generator` bound (see `_Generator._name`)."""
    what, *arguments = recipe
    if what == "constant":
        (value,) = arguments
        text = repr(value)
        try:
            if ast.literal_eval(text) != value:
                raise _Unsupported
        except (ValueError, SyntaxError):
            raise _Unsupported from None
        return f"_Constant({text})"
    if what == "caller":
        return "rt.caller()"
    if what == "types":
        return "set()"
    if what == "reader":
        attr, types = arguments
        return f"rt.reader({attr!r}, {types})"
    if what == "concat":
        return "rt.sandbox.concat_bounded"
    if what == "filter":
        (name,) = arguments
        return f"rt.filter({name!r})"
    if what == "binop":
        return "rt.sandbox.call_binop"
    if what == "bounded":
        return "rt.sandbox.bounded"
    if what == "join":
        return "rt.sandbox.join"
    if what == "helper":
        (name,) = arguments
        return f"rt.helper({name!r})"
    if what == "jinja_filter":
        (name,) = arguments
        return f"rt.jinja_filter({name!r})"
    if what == "closure":
        (node,) = arguments
        return f"rt.closure({tree_literal(node)})"
    raise AssertionError(f"no recipe for {recipe!r}")  # pragma: no cover
