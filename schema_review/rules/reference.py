"""What rule expressions can read, taken from the model's classes themselves.

Each target's expressions see a few names (the subject, `obj`, `model`, `profile`, `options`);
each name is an object of the model whose attributes are its dataclass fields, properties and
methods, typed by their annotations and described by their docstrings (or the comment of a
field). The loader checks every attribute chain of a rule against this (`column.defualt` is an
error when the rule loads, not when it first meets a column), and docs/attributes.md is
generated from it, so the reference cannot drift from the code.
"""

from __future__ import annotations

import difflib
import inspect
import io
import re
import sys
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import nodes

from schema_review.model import (
    Change,
    Column,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    Policy,
    Schema,
    SchemaModel,
    Sequence,
    Table,
    Trigger,
    View,
)
from schema_review.model.changes import STATEMENT_KINDS
from schema_review.profile import Profile
from schema_review.rules.expressions import subject_name

# The object a final-schema (or history) rule is evaluated on, by target or history kind.
OBJECT_CLASSES: dict[str, type] = {
    "table": Table,
    "column": Column,
    "constraint": Constraint,
    "foreign_key": Constraint,
    "index": Index,
    "policy": Policy,
    "trigger": Trigger,
    "function": Function,
    "type": EnumType,
    "sequence": Sequence,
    "view": View,
    "extension": Extension,
    "schema": Schema,
}
# What statement rules may name in `kinds`: every kind of change, and `any` for all of them.
KINDS = (*STATEMENT_KINDS, "any")


def _migration_facts() -> type:
    # engine.py imports the loader, which imports this module: read it when it is there.
    from schema_review.rules.engine import MigrationFacts

    return MigrationFacts


def subject_classes(target: str, kinds: typing.Sequence[str] = ()) -> tuple[type, ...]:
    """The classes a rule's subject may be: one, or for history rules one per kind."""
    if target == "statement":
        return (Change,)
    if target == "migration":
        return (_migration_facts(),)
    if target == "history":
        return tuple(dict.fromkeys(OBJECT_CLASSES[k] for k in kinds if k in OBJECT_CLASSES))
    found = OBJECT_CLASSES.get(target)
    return (found,) if found is not None else ()


@dataclass(frozen=True)
class Member:
    """One attribute of a model class, as an expression reads it."""

    name: str
    kind: str  # field, property or method
    annotation: Any  # the resolved type (None when it could not be resolved)
    written: str  # the annotation as written in the source
    doc: str
    signature: str = ""  # methods: their parameters, `(words)`


@cache
def _namespace() -> dict[str, Any]:
    """Names annotations may use that their module imports only for type checking."""
    from schema_review.model import objects, plpgsql
    from schema_review.parse import Expression, SourceFile, Statement

    names: dict[str, Any] = {"Any": Any, "Expression": Expression, "Statement": Statement}
    names.update(SourceFile=SourceFile, MigrationFacts=_migration_facts())
    for module in (objects, plpgsql, sys.modules[Change.__module__]):
        names.update({k: v for k, v in vars(module).items() if isinstance(v, type)})
    names.update({c.__name__: c for c in (*OBJECT_CLASSES.values(), SchemaModel, Profile)})
    return names


def _resolve(written: Any, owner: Any) -> Any:
    if not isinstance(written, str):
        return written
    module = sys.modules.get(getattr(owner, "__module__", ""), None)
    try:  # the annotations of our own source, as typing.get_type_hints evaluates them
        return eval(written, vars(module) if module else {}, _namespace())
    except Exception:  # a name only a type checker knows: the chain stops there
        return None


def field_comments(cls: type) -> dict[str, str]:
    """The comment of each field in the class's source: on its line, or the lines above it."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    above: list[str] = []
    field = re.compile(r"^\s{4}([a-z_][a-z0-9_]*)\s*:")
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#") and line.startswith("    ") and not line.startswith("     "):
            above.append(comments.get(number, ""))
            continue
        match = field.match(line)
        if match:
            trailing = comments.get(number) if not stripped.startswith("#") else None
            text = trailing or " ".join(above)
            if text:
                found.setdefault(match.group(1), text)
        above = []
    return found


@cache
def members(cls: type) -> dict[str, Member]:
    """The public attributes of a model class: fields (class variables included), properties
    and methods, by name. Fields carry no description here: reading the comments of the source
    is slow, and only the reference needs them (`field_comments`)."""
    found: dict[str, Member] = {}
    for klass in reversed(cls.__mro__):
        for name, written in vars(klass).get("__annotations__", {}).items():
            if name.startswith("_"):
                continue
            text = written if isinstance(written, str) else getattr(written, "__name__", "")
            annotation = _resolve(written, klass)
            if typing.get_origin(annotation) is typing.ClassVar:
                annotation = typing.get_args(annotation)[0]
                text = text.removeprefix("ClassVar[").removesuffix("]")
            found[name] = Member(name, "field", annotation, text, "")
    for name in dir(cls):
        if name.startswith("_") or name in found:
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, property) and value.fget is not None:
            written = value.fget.__annotations__.get("return", "")
            doc = inspect.getdoc(value.fget) or ""
            found[name] = Member(name, "property", _resolve(written, value.fget), str(written), doc)
        elif inspect.isfunction(value):
            written = value.__annotations__.get("return", "")
            parameters = list(inspect.signature(value).parameters)[1:]
            found[name] = Member(
                name,
                "method",
                _resolve(written, value),
                str(written),
                inspect.getdoc(value) or "",
                f"({', '.join(parameters)})",
            )
    return dict(sorted(found.items()))


# What an attribute chain may continue on: a model class, or a built-in whose attributes are
# Python's (a string's `startswith`); None: anything (a dict reads keys as attributes, Any).
_Types = tuple[type, ...] | None


def _types_of(annotation: Any) -> _Types:
    if annotation is None or annotation is Any:
        return None
    if isinstance(annotation, type) and annotation is not type(None):
        if annotation in (dict, object) or issubclass(annotation, dict):
            return None
        return (annotation,)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found: list[type] = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            inner = _types_of(arg)
            if inner is None:
                return None
            found.extend(inner)
        return tuple(found)
    if isinstance(origin, type):
        return _types_of(origin)
    return None


def _is_model(cls: type) -> bool:
    return cls.__module__.startswith("schema_review.")


def attribute_of(types_: tuple[type, ...], name: str) -> tuple[bool, _Types]:
    """Whether objects of these types have the attribute, and the types of its value."""
    result: list[type] = []
    known = False
    for cls in _with_subclasses(types_):
        if _is_model(cls):
            member = members(cls).get(name)
            if member is None:
                continue
            known = True
            value = _types_of(member.annotation)
            if value is None:
                return True, None
            # `obj.previous` is typed as the base class, and is an object of the same kind.
            result.extend(cls if issubclass(cls, v) else v for v in value)
        elif not name.startswith("_") and hasattr(cls, name):
            return True, None  # a method of a string or a list: its value is not followed
    return known, tuple(dict.fromkeys(result)) if known else None


def _with_subclasses(types_: tuple[type, ...]) -> list[type]:
    """A value typed as a base class (`stmt.object: SchemaObject`) is one of its subclasses:
    the attributes of each count."""
    found: dict[type, None] = {}
    for cls in types_:
        found[cls] = None
        if _is_model(cls):
            found.update(dict.fromkeys(_subclasses(cls)))
    return list(found)


def names_for(target: str, kinds: typing.Sequence[str]) -> dict[str, _Types]:
    """The names a rule's `when`, `message`, `fix` and `object` see, with their types."""
    subject = subject_classes(target, kinds)
    return {
        subject_name(target): subject or None,
        "obj": subject or None,
        "model": (SchemaModel,),
        "profile": (Profile,),
    }


@dataclass(frozen=True)
class Problem:
    """An attribute a rule reads that its object does not have."""

    chain: str
    owner: str
    name: str
    hint: str

    def __str__(self) -> str:
        hint = f" (did you mean {self.hint}?)" if self.hint else ""
        return f"`{self.chain}`: {self.owner} has no attribute {self.name}{hint}"


def check_tree(
    tree: nodes.Node, scope: dict[str, _Types], options: typing.Collection[str]
) -> list[Problem]:
    """The attribute chains of an expression or template that do not exist on the model.

    A chain is followed from a name of `scope` through fields, properties and methods while
    their annotations name model classes; it stops at anything else (a dict, Any, a loop
    variable), which is left to the run. `options.NAME` must be one of the rule's options.
    """
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    scope = {k: v for k, v in scope.items() if k not in stored}
    problems: dict[str, Problem] = {}

    def chain_text(node: nodes.Node) -> str:
        if isinstance(node, nodes.Name):
            return node.name
        if isinstance(node, nodes.Getattr):
            return f"{chain_text(node.node)}.{node.attr}"
        if isinstance(node, nodes.Call):
            return f"{chain_text(node.node)}(...)"
        return "..."

    def type_of(node: nodes.Node) -> _Types:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return scope.get(node.name)
        if isinstance(node, nodes.Call):
            return type_of(node.node)  # a method resolves to what it returns
        if isinstance(node, nodes.Getattr):
            if (
                isinstance(node.node, nodes.Name)
                and node.node.name == "options"
                and "options" not in stored
            ):
                if node.attr not in options and not hasattr(dict, node.attr):
                    close = difflib.get_close_matches(node.attr, list(options), n=1)
                    declared = "the rule's options" if options else "the rule (no options)"
                    problem = Problem(chain_text(node), declared, node.attr, ", ".join(close))
                    problems.setdefault(problem.chain, problem)
                return None
            owner = type_of(node.node)
            if not owner:
                return None
            known, value = attribute_of(owner, node.attr)
            if not known:
                names = {m for c in _with_subclasses(owner) if _is_model(c) for m in members(c)}
                close = difflib.get_close_matches(node.attr, sorted(names), n=1)
                label = " or ".join(cls.__name__ for cls in owner)
                problem = Problem(chain_text(node), label, node.attr, ", ".join(close))
                problems.setdefault(problem.chain, problem)
                return None
            return value
        return None

    chains = list(tree.find_all(nodes.Getattr))
    if isinstance(tree, nodes.Getattr):  # find_all leaves out the node itself
        chains.insert(0, tree)
    for node in chains:
        type_of(node)
    return list(problems.values())


def documented_classes() -> list[type]:
    """Every model class an expression can reach, from the names rules see."""
    facts = _migration_facts()
    roots: list[type] = [Change, facts, *_subclasses(facts), SchemaModel, Profile]
    roots += list(dict.fromkeys(OBJECT_CLASSES.values()))
    seen: dict[type, None] = {}
    queue = list(roots)
    while queue:
        cls = queue.pop(0)
        if cls in seen or not _is_model(cls):
            continue
        seen[cls] = None
        for member in members(cls).values():
            queue.extend(_reachable(member.annotation))
    return list(seen)


def _reachable(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type):
        if _is_model(annotation):
            yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _reachable(arg)


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found += [sub, *_subclasses(sub)]
    return found


def rule_problems(
    target: str,
    kinds: typing.Sequence[str],
    options: typing.Collection[str],
    sources: dict[str, str | None],
) -> list[tuple[str, str]]:
    """What is wrong in a rule's expressions (`when`, `message`, `fix`, `object`, `applies`):
    attribute chains its objects do not have, options it does not declare; by field."""
    from schema_review.rules.expressions import _condition_expression, environment

    scope = names_for(target, kinds)
    if target == "migration":
        # Facts of a kind of migration finding (placeholders) are subclasses the pipeline adds.
        facts = _migration_facts()
        scope["migration"] = scope["obj"] = (facts, *_subclasses(facts))
    problems: list[tuple[str, str]] = []
    for field_name, source in sources.items():
        if not source:
            continue
        if field_name in ("when", "applies"):
            tree: nodes.Node = _condition_expression(source)
        else:
            tree = environment().parse(source)
        names = {"profile": scope["profile"]} if field_name == "applies" else scope
        problems += [(field_name, str(p)) for p in check_tree(tree, names, options)]
    return problems


def kind_problems(target: str, kinds: typing.Sequence[str]) -> list[str]:
    """Statement kinds a statement rule names that the replay never records."""
    if target != "statement":
        return []
    problems = []
    for kind in kinds:
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"unknown statement kind {kind}{hint}")
    return problems
