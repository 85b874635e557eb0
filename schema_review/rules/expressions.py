"""The expression language of rules: Jinja expressions in a sandboxed environment.

Conditions are Jinja expressions; messages, fixes and object names are Jinja templates.
The environment is the bounded sandbox of `sandbox.py` (no attribute starting with `_`, no
`str.format` outside the sandbox's formatter, no mutation of lists or dicts, limits on the
size of what an expression builds), and undefined names are errors, so a typo in a rule
fails loudly instead of silently evaluating to false.

Nothing compiled is cached between runs (the cache holds no code): an expression is parsed
when its rule file loads (unless the rule cache says the same file parsed before, or it is a
built-in rule's, parsed when the package was built: prebuilt.py) and made into closures on
first use; Jinja compiles it only when it is outside the closures' subset. The built-in
rules' expressions are compiled to Python when the package is built (prebuilt_python.py,
written by the same generator as `compile_python`): a run only binds them to the sandbox,
runtime.RuleSandbox, which needs no Jinja. Jinja (`environment()`, the parser, the closures)
is imported when something needs it: a rule of the team's, a part of a built-in expression
outside the generator's subset, a template Jinja compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from schema_review.rules import prebuilt, runtime
from schema_review.rules.bounds import RULE_OUTPUT_LIMIT, check_output

if TYPE_CHECKING:
    from jinja2 import Template, TemplateSyntaxError, nodes

    from schema_review.rules.closures import Batch, Closure, Renderer
    from schema_review.rules.runtime import Parts
    from schema_review.rules.sandbox import RuleEnvironment

# The name a rule's condition uses for the thing it is evaluated on.
SUBJECT_NAMES = {
    "statement": "stmt",
    "history": "obj",
    "foreign_key": "fk",
}


def subject_name(target: str) -> str:
    return SUBJECT_NAMES.get(target, target)


@lru_cache(maxsize=1)
def environment() -> RuleEnvironment:
    """Jinja's sandbox of the rules (see sandbox.py), made on first need: a run of the
    built-in rules needs it only for what runtime.RuleSandbox leaves to it."""
    from schema_review.rules.sandbox import RuleEnvironment

    env = RuleEnvironment()
    for name, function in runtime.RULE_FILTERS.items():
        env.filters[name] = env.bounded_filter(name, function)
    env.globals.update(any=any, all=all, sorted=sorted)
    return env


# The closures (closures.py) are made with Jinja's syntax trees: imported when first needed.
def compile_closure(tree: nodes.Expr, env: RuleEnvironment) -> Closure | None:
    from schema_review.rules import closures

    return closures.compile_closure(tree, env)


def compile_python(tree: nodes.Expr, env: RuleEnvironment) -> Closure | None:
    from schema_review.rules import closures

    return closures.compile_python(tree, env)


def compile_renderer(tree: nodes.Template, env: RuleEnvironment, limit: int) -> Renderer | None:
    from schema_review.rules import closures

    return closures.compile_renderer(tree, env, limit)


def variables(**names: Any) -> dict[str, Any]:
    """The names a rule's expressions see: the sandbox's globals plus `names` (where Jinja
    runs, its own globals are added: closures.with_jinja_globals)."""
    return {**runtime.environment().globals, **names}


def _run(template: Template, names: dict[str, Any]) -> Any:
    # A shared context uses `names` as it is: no copy of the globals per evaluation,
    # which is most of Jinja's per-call cost (see `variables`).
    from schema_review.rules.closures import with_jinja_globals

    env = template.environment
    context = env.context_class(env, with_jinja_globals(env, names), template.name, template.blocks)
    output: list[str] = []
    size = 0
    for chunk in template.root_render_func(context):
        output.append(chunk)
        size += len(chunk)
        if size > RULE_OUTPUT_LIMIT:  # a loop's output: stop it before it grows further
            check_output("".join(output), RULE_OUTPUT_LIMIT)
    return context.vars.get("result", "".join(output))


def _check_names(tree: nodes.Node) -> None:
    """Unknown filters and tests, which Jinja would find only when it compiles the expression."""
    from jinja2 import nodes
    from jinja2.exceptions import TemplateAssertionError

    env = environment()
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateAssertionError(f"No {kind} named {node.name!r}.", node.lineno)


def _condition_expression(source: str) -> nodes.Expr:
    from jinja2 import TemplateSyntaxError
    from jinja2.parser import Parser

    parser = Parser(environment(), source, state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    return expression


def _condition_tree(expression: nodes.Expr) -> nodes.Template:
    """A template that stores the expression's value in `result` (as Jinja's own
    compile_expression does), so it can run in a shared context."""
    from jinja2 import nodes

    body = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)]
    return nodes.Template(body, lineno=1)


def condition_template(source: str) -> Template:
    """A condition as a Jinja Template (the slow path, and the reference the closures are
    tested against)."""
    env = environment()
    return env.from_string(_condition_tree(_condition_expression(source)))


# What prebuilt_python.py gives: its conditions, templates, the parts their factories bind,
# its templates compiled by Jinja, its conditions' batches.
_Shipped = tuple[dict[str, Any], dict[str, Any], "Parts", dict[str, Any], dict[str, Any]]


@lru_cache(maxsize=1)
def _shipped() -> _Shipped | None:
    """The built-in rules' conditions and templates as compiled when the package was built
    (prebuilt_python.py), while they are those of the rule files as they are."""
    data = prebuilt.prebuilt()
    if data is None:
        return None
    from schema_review.rules import prebuilt_python as shipped

    if data["digest"] != shipped.DIGEST:
        return None
    return (
        shipped.CONDITIONS,
        shipped.TEMPLATES,
        runtime.Parts(),
        shipped.JINJA_TEMPLATES,
        shipped.BATCHES,
    )


def shipped_condition(source: str) -> Closure | None:
    """A built-in rule's condition compiled to Python when the package was built, or None."""
    shipped = _shipped()
    factory = shipped[0].get(source) if shipped is not None else None
    return factory(shipped[2]) if factory is not None else None  # type: ignore[index]


def shipped_batch(source: str, subject: str) -> Batch | None:
    """A built-in rule's condition as a batch (closures.batch_source) for subjects named
    `subject`, compiled to Python when the package was built, or None."""
    shipped = _shipped()
    if shipped is None:
        return None
    found = shipped[4].get(source)
    if found is None or found[0] not in ("", subject):
        return None  # (one that reads another name than the subject's: one at a time)
    batch: Batch = found[1](shipped[2])
    return batch


def shipped_renderer(source: str) -> Renderer | None:
    """A built-in rule's template compiled to Python when the package was built, or None."""
    shipped = _shipped()
    factory = shipped[1].get(source) if shipped is not None else None
    return factory(shipped[2]) if factory is not None else None  # type: ignore[index]


def shipped_template(source: str) -> Template | None:
    """A built-in rule's template outside the closures' subset, as Jinja compiled it when the
    package was built, or None."""
    shipped = _shipped()
    factory = shipped[3].get(source) if shipped is not None else None
    if factory is None:
        return None
    import jinja2

    from schema_review.rules import prebuilt_python

    if jinja2.__version__ != prebuilt_python.JINJA:  # Jinja's code is of its version
        return None
    return jinja_template(factory)


def jinja_template(factory: Callable[[RuleEnvironment], dict[str, Any]]) -> Template:
    """A Template of the code Jinja compiled for it (a factory of prebuilt_python.py's),
    as Environment.from_string makes one of the code it compiles."""
    env = environment()
    namespace = factory(env)
    namespace["__file__"] = "<template>"
    return env.template_class.from_module_dict(env, namespace, env.make_globals(None))


class _LazyCondition:
    """A condition: parsed when the rule loads (unless known to parse), made into a closure
    on first use, or into a Jinja Template when it is outside the closures' subset."""

    __slots__ = ("_batches", "_closure", "_python", "_template", "_tree", "source")

    def __init__(self, source: str, check: bool) -> None:
        self.source = source
        self._tree: nodes.Expr | None = None
        self._closure: Closure | None = None
        self._python: Closure | None = None
        self._template: Template | None = None
        self._batches: dict[str, Batch | None] | None = None  # subject name -> its batch
        if check:
            self._tree = _condition_expression(source)
            _check_names(self._tree)

    def _parsed(self) -> nodes.Expr:
        tree = self._tree
        if tree is None:  # a built-in rule's is parsed already (prebuilt.py)
            tree = prebuilt.condition_tree(self.source)
        if tree is None:
            tree = _condition_expression(self.source)
        return tree

    def _prepare(self) -> None:
        shipped = shipped_condition(self.source)
        if shipped is not None:  # a built-in rule's, compiled to Python already
            self._closure = self._python = shipped
            self._tree = None
            return
        tree = self._parsed()
        env = environment()
        self._closure = compile_closure(tree, env)
        if self._closure is None:
            self._template = env.from_string(_condition_tree(tree))
        else:
            self._tree = tree  # kept for `hot`
        if self._template is not None:
            self._tree = None

    def hot(self) -> Callable[[dict[str, Any]], Any]:
        """The condition compiled to one Python function, for a loop over many subjects:
        its compilation costs as much as a few hundred evaluations of the closure."""
        if self._python is None:
            closure = self.compiled()
            if self._template is not None or self._python is not None:
                return self._python or closure
            self._python = compile_python(self._parsed(), environment()) or closure
            self._tree = None
        return self._python

    def batch(self, subject: str) -> Batch | None:
        """The condition as a batch for subjects named `subject` (closures.batch_source),
        when it is a built-in rule's (compiled when the package was built), else None."""
        batches = self._batches
        if batches is None:
            batches = self._batches = {}
        if subject not in batches:
            batches[subject] = shipped_batch(self.source, subject)
        return batches[subject]

    def __call__(self, names: dict[str, Any]) -> bool:
        return bool(self.compiled()(names))

    def compiled(self) -> Callable[[dict[str, Any]], Any]:
        """The closure, or a function running the Jinja Template."""
        if self._closure is None and self._template is None:
            self._prepare()
        if self._closure is not None:
            return self._closure
        template = self._template
        assert template is not None
        return lambda names: _run(template, names)


class _LazyTemplate:
    """A message, fix or object template: parsed when the rule loads (unless known to parse),
    made into closures on first use (most templates of a run never render), or into a Jinja
    Template when it is outside the closures' subset."""

    __slots__ = ("_renderer", "_template", "_tree", "source")

    def __init__(self, source: str, check: bool) -> None:
        self.source = source
        self._tree: nodes.Template | None = None
        self._template: Template | None = None
        self._renderer: Renderer | None = None
        if check:
            self._tree = environment().parse(source)
            _check_names(self._tree)

    def render(self, names: dict[str, Any]) -> str:
        renderer = self._renderer
        if renderer is not None:  # (the common case first: a template rendered before)
            return renderer(names).strip()
        if self._template is None:
            # A built-in rule's, compiled to Python (or by Jinja) when the package was built.
            self._renderer = shipped_renderer(self.source)
            if self._renderer is None:
                self._template = shipped_template(self.source)
        if self._renderer is None and self._template is None:
            env = environment()
            tree = self._tree
            if tree is None:  # a built-in rule's is parsed already (prebuilt.py)
                tree = prebuilt.template_tree(self.source, env)
            if tree is None:
                tree = env.parse(self.source)
            # The same template as plain closures when it can be: several times faster.
            self._renderer = compile_renderer(tree, env, RULE_OUTPUT_LIMIT)
            if self._renderer is None:
                self._template = env.from_string(tree)
            self._tree = None
        if self._renderer is not None:
            return self._renderer(names).strip()
        assert self._template is not None
        return str(_run(self._template, names)).strip()


# From how many subjects a condition is compiled to Python rather than run as closures: the
# compilation costs about 0.5 ms, an evaluation saves about 1.5 us (a condition of three or
# four attribute reads).
HOT_SUBJECTS = 300


class CompiledRule:
    """A rule's expressions, checked when the rule loads and compiled on first use: a run on
    one file evaluates a fraction of the rules."""

    __slots__ = ("_condition", "fix", "message", "object")

    def __init__(
        self,
        condition: _LazyCondition | None,
        message: _LazyTemplate,
        fix: _LazyTemplate | None,
        object_template: _LazyTemplate | None,
    ) -> None:
        self._condition = condition
        self.message = message
        self.fix = fix
        self.object = object_template

    def matches(self, names: dict[str, Any]) -> bool:
        if self._condition is None:
            return True
        return self._condition(names)

    def batch(self, subject: str) -> Batch | None:
        """The condition as a batch (see closures.batch_source) for subjects named
        `subject`, or None: then `matcher` one subject at a time."""
        if self._condition is None:
            return None
        return self._condition.batch(subject)

    def matcher(self, subjects: int = 0) -> Callable[[dict[str, Any]], Any]:
        """The condition as one callable (its value's truth is the answer): for the engine's
        loop over thousands of subjects, without the layers of `matches`; compiled to Python
        when it is to run on at least HOT_SUBJECTS `subjects`."""
        if self._condition is None:
            return _always
        if subjects >= HOT_SUBJECTS:
            return self._condition.hot()
        return self._condition.compiled()


def _always(names: dict[str, Any]) -> bool:
    return True


def compile_rule(
    target: str,
    condition: str | None,
    message: str,
    fix: str | None,
    object_template: str | None,
    checked: bool = False,
) -> CompiledRule:
    """A rule's expressions; raises ValueError saying which one is malformed. `checked`: the
    rule cache says these sources parsed before (they are parsed on first use only)."""
    errors = _syntax_errors(checked)
    compiled_condition = None
    if condition is not None:
        try:
            compiled_condition = _LazyCondition(condition, not checked)
        except errors as error:
            raise ValueError(f"'when' is not a valid expression: {error.message}") from None
    templates: dict[str, _LazyTemplate | None] = {}
    for name, source in (("message", message), ("fix", fix), ("object", object_template)):
        if source is None:
            templates[name] = None
            continue
        try:
            templates[name] = _LazyTemplate(source, not checked)
        except errors as error:
            raise ValueError(
                f"'{name}' is not a valid template (line {error.lineno}): {error.message}"
            ) from None
    message_template = templates["message"]
    assert message_template is not None
    return CompiledRule(compiled_condition, message_template, templates["fix"], templates["object"])


def _syntax_errors(checked: bool) -> tuple[type[TemplateSyntaxError], ...]:
    """What parsing a rule's expressions raises for a malformed one: Jinja's syntax errors
    (an unknown filter or test is a TemplateAssertionError, one of them); none when they are
    known to parse (then they are parsed on first use only, and Jinja is not imported)."""
    if checked:
        return ()
    import jinja2

    return (jinja2.TemplateSyntaxError,)
