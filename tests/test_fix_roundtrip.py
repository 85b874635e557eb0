"""Every fix the tool emits runs on PostgreSQL and clears its finding (tests/fix_roundtrip.py).

Four sets of findings, on the session's one server, each fix applied where the review puts
it (a new migration, or in place of the statement) under the history's runner:

- every rule's bad example, under the default runner, and the CONCURRENTLY fixes under every
  runner that wraps a file in a transaction (goose, dbmate, sqlx, diesel, pop, drizzle,
  supabase, flyway, prisma and golang-migrate): the fix must say how to leave that runner's
  transaction and must not be reported as concurrently-in-transaction;
- histories cut down from corpus findings whose fix once failed (`CORPUS_SHAPES`);
- every finding with a fix in `examples/`;
- the corpus, by sample (it runs whenever ../shared/corpus is there, as in `.ci/run`).

What the corpus sample covers, and why it is complete. A fix is a rule's template: which
of its branches runs (CONCURRENTLY or not, USING INDEX, the column added before its
constraint, the NOT NULL steps, an advice-only branch that emits no SQL ...) decides the
statements it emits, and the runner decides how they are wrapped (the way out of the
runner's transaction is a branch too). The sample takes one finding per (rule, shape of the
fix, runner), the shape being the leading SQL keywords of each statement of the fix, so
each template branch that any corpus finding reaches is run under each runner the corpus
uses it with (none, diesel, flyway, goose, pop, prisma); of the 4,700 fixable corpus
findings the rest are those branches again on other tables (535 CREATE INDEX, 744 SET
lock_timeout). Where several findings share a key, the one with the fewest statements up to its
place is taken. Names come quoted or not, mixed-case (Prisma, hatchet) and from DO blocks,
explicit transactions and ALTER TABLEs of several sub-commands, as the corpus writes them.
Branches no corpus finding reaches are run on the rules' bad examples, and runners the
corpus lacks on the CONCURRENTLY test above (the only part of a fix a runner changes).

What keeps it within a minute or two: each history is applied once, the database copied
(CREATE DATABASE ... TEMPLATE) only for a fix that cannot run in a transaction (CONCURRENTLY,
setval): the others run in one that is rolled back; the history's own findings are linted
once per place, and only rules at or above the finding's severity are linted again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import ReplayedHistory, replay_histories
from schema_review.rules import Hit, Rule, evaluate, load_rules, rule_applies
from schema_review.verify.server import Server
from tests.fix_roundtrip import Case, Outcome, fixed_hits, run_cases, segments
from tests.helpers import REPO, LintSql, findings_of, split_example, write_migrations
from tests.oracle import cases as oracle_cases
from tests.oracle import expected_failures, resolve

RULES = load_rules()
DEFAULT = [r for r in RULES if r.enabled]
FIXED = [r for r in RULES if r.fix]
# Runners that wrap each file in a transaction, each with its own way out (or none); prisma
# and golang-migrate send a file as one query, which PostgreSQL runs as one transaction when
# it holds more than one statement.
TRANSACTION_RUNNERS = (
    "goose",
    "dbmate",
    "sqlx",
    "diesel",
    "pop",
    "drizzle",
    "supabase",
    "flyway",
    "prisma",
    "golang-migrate",
)
CONCURRENT = [r for r in FIXED if r.fix and "CONCURRENTLY" in r.fix]


def _rules_for(rule: Rule) -> list[Rule]:
    """What the fixed history is linted with: the default selection, and the rule itself."""
    return DEFAULT + ([] if rule.enabled else [rule])


def _hits(history: ReplayedHistory, rules: list[Rule]) -> list[Hit]:
    applicable = [r for r in rules if rule_applies(r, history.profile)]
    return evaluate(applicable, history.model, (), history.profile)


def _example(rule: Rule, tmp_path: Path, **settings: object) -> ReplayedHistory:
    folder = write_migrations(tmp_path / "m", split_example(rule.examples["bad"]))
    values: dict[str, object] = dict(rule.example_profile)
    values.update(settings)
    (history,) = replay_histories([folder], Settings(**values))  # type: ignore[arg-type]
    return history


def _check(outcomes: list[Outcome], tolerated: frozenset[str] = frozenset()) -> None:
    problems = []
    for outcome in outcomes:
        failures = list(outcome.failures)
        failures += [
            f"the history before the fix fails: {f}"
            for f in outcome.history_failures
            if not any(name in f for name in tolerated)
        ]
        if failures:
            hit = outcome.case.hit
            problems.append(
                f"{outcome.case.label}: {hit.rule.id} at {hit.source.display}"
                f"\n  fix:\n    "
                + (hit.fix or "").replace("\n", "\n    ")
                + "".join(f"\n  {f}" for f in failures)
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", FIXED, ids=[r.id for r in FIXED])
def test_bad_example_fix_round_trips(rule: Rule, pg_server: Server, tmp_path: Path) -> None:
    history = _example(rule, tmp_path)
    rules = _rules_for(rule)
    hits = [h for h in fixed_hits(_hits(history, rules)) if h.rule.id == rule.id]
    if not hits:
        pytest.skip(f"{rule.id}: its fix is advice for its bad example (no SQL)")
    _check(run_cases(pg_server, [Case(rule.id, history, h) for h in hits], rules))


@pytest.mark.parametrize("runner", TRANSACTION_RUNNERS)
def test_concurrently_fixes_leave_the_runners_transaction(
    runner: str, pg_server: Server, tmp_path: Path
) -> None:
    """Under a runner that wraps each file in a transaction, a CONCURRENTLY fix runs: it goes
    in a migration the runner runs outside one, or (drizzle, Supabase) says to run it outside
    the tool; the tool never reports it as concurrently-in-transaction."""
    outcomes = []
    for number, rule in enumerate(CONCURRENT):
        history = _example(rule, tmp_path / str(number), runner=runner)
        rules = _rules_for(rule)
        hits = [h for h in fixed_hits(_hits(history, rules)) if h.rule.id == rule.id]
        assert hits, f"{rule.id} under {runner}: no fix"
        # Only the fixes that take CONCURRENTLY here (a template may have other branches).
        hits = [h for h in hits if "CONCURRENTLY" in (h.fix or "")]
        for hit in hits:
            assert hit.fix is not None
            # Flyway runs a file with CONCURRENTLY outside a transaction by itself.
            if runner != "flyway":
                assert history.profile.outside_transaction.splitlines()[0] in hit.fix, hit.fix
        outcomes += run_cases(
            pg_server, [Case(f"{rule.id}/{runner}", history, h) for h in hits], rules
        )
    assert len({o.case.rule.id for o in outcomes}) >= 13
    _check(outcomes)


def test_the_round_trip_catches_a_fix_left_in_the_runners_transaction(
    pg_server: Server, tmp_path: Path
) -> None:
    """A CONCURRENTLY fix without goose's way out: PostgreSQL refuses it, and the tool's own
    critical concurrently-in-transaction on the fixed history is reported as the fix's."""
    rule = next(r for r in RULES if r.id == "create-index-not-concurrently")
    history = _example(rule, tmp_path, runner="goose")
    (hit,) = [h for h in _hits(history, _rules_for(rule)) if h.rule.id == rule.id]
    assert hit.fix is not None and "+goose NO TRANSACTION" in hit.fix
    bare = "\n".join(line for line in hit.fix.splitlines() if not line.startswith("--"))
    (outcome,) = run_cases(pg_server, [Case("bare", history, hit._replace(fix=bare))], _rules_for)
    assert any("cannot run inside a transaction block" in f for f in outcome.failures)
    assert any("the fix raises critical concurrently-in-transaction" in f for f in outcome.failures)


# Histories cut down from corpus findings whose fix failed (tests/test_fix_roundtrip.py's
# corpus sample found them): each rule's fix must run there and clear its finding.
CORPUS_SHAPES: dict[str, tuple[str, tuple[str, ...], dict[str, object]]] = {
    # kratos: a table renamed twice; the first rename's view names the table as it was then.
    "rename-then-rename": (
        "CREATE TABLE flows (id bigint PRIMARY KEY);\n"
        "-- file: 0002_rename.sql\nALTER TABLE flows RENAME TO request_flows;\n"
        "-- file: 0003_rename.sql\nALTER TABLE request_flows RENAME TO settings_flows;\n",
        ("rename-table",),
        {},
    ),
    # authelia: the old name renamed away is used again at once (a column: new meaning).
    "rename-column-reused": (
        "CREATE TABLE creds (id bigint PRIMARY KEY, kind varchar(32));\n"
        "-- file: 0002_rename.sql\n"
        "ALTER TABLE creds RENAME COLUMN kind TO format;\n"
        "ALTER TABLE creds ADD COLUMN kind varchar(32) NOT NULL DEFAULT '';\n",
        ("rename-column",),
        {},
    ),
    # chirpstack: REFERENCES written in ADD COLUMN.
    "fk-in-add-column": (
        "CREATE TABLE devices (id uuid PRIMARY KEY);\n"
        "CREATE TABLE profiles (id uuid PRIMARY KEY);\n"
        "-- file: 0002_fk.sql\n"
        "ALTER TABLE profiles ADD COLUMN device_id uuid REFERENCES devices ON DELETE CASCADE;\n"
        "CREATE INDEX profiles_device_id_idx ON profiles (device_id);\n",
        ("fk-without-not-valid",),
        {},
    ),
    # supabase/auth: a new uuid key with a volatile default, on a table whose old key column
    # was renamed (PostgreSQL 18 keeps its NOT NULL constraint's name, identities_id_not_null).
    "volatile-default-primary-key": (
        "CREATE TABLE identities (id text NOT NULL PRIMARY KEY, provider text NOT NULL);\n"
        "-- file: 0002_key.sql\n"
        "ALTER TABLE identities RENAME COLUMN id TO provider_id;\n"
        "ALTER TABLE identities DROP CONSTRAINT IF EXISTS identities_pkey,\n"
        "  ADD COLUMN IF NOT EXISTS id uuid DEFAULT gen_random_uuid() PRIMARY KEY;\n",
        ("add-column-volatile-default",),
        {},
    ),
    # hatchet (Prisma's output): one ALTER TABLE swaps the key; each sub-command's fix keeps
    # the others.
    "key-swap-in-one-alter": (
        'CREATE TABLE "Action" ("id" text NOT NULL, CONSTRAINT "Action_pkey" PRIMARY KEY ("id"));\n'
        "-- file: 0002_swap.sql\n"
        'ALTER TABLE "Action" DROP CONSTRAINT "Action_pkey",\n'
        '  ADD COLUMN "actionId" TEXT NOT NULL,\n'
        '  ADD COLUMN "uid" UUID NOT NULL,\n'
        '  ADD CONSTRAINT "Action_pkey" PRIMARY KEY ("uid");\n',
        ("add-unique-without-index", "add-column-not-null-without-default"),
        {},
    ),
    # langfuse (Prisma): BEGIN ... COMMIT around a type change to a type named in capitals.
    "quoted-type-in-a-transaction": (
        "CREATE TYPE \"Mood\" AS ENUM ('OK', 'BAD');\n"
        'CREATE TABLE "Entry" ("id" text PRIMARY KEY, "mood" text);\n'
        "-- file: 0002_mood.sql\n"
        "BEGIN;\n"
        'ALTER TABLE "Entry" ALTER COLUMN "mood" TYPE "Mood" USING ("mood"::"Mood");\n'
        'CREATE INDEX "Entry_mood_idx" ON "Entry" ("mood");\n'
        "COMMIT;\n",
        ("column-type-change",),
        {},
    ),
    # supabase/auth: constraints added inside a DO block, the second needing the first.
    "do-block": (
        "CREATE TABLE tokens (id bigint PRIMARY KEY, token text, parent text);\n"
        "-- file: 0002_do.sql\n"
        "DO $$\nBEGIN\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tokens_token_key') THEN\n"
        "    ALTER TABLE tokens ADD CONSTRAINT tokens_token_key UNIQUE (token);\n"
        "  END IF;\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'tokens_parent_fkey') THEN\n"
        "    ALTER TABLE tokens ADD CONSTRAINT tokens_parent_fkey\n"
        "      FOREIGN KEY (parent) REFERENCES tokens (token);\n"
        "  END IF;\n"
        "END $$;\n",
        ("add-unique-without-index", "fk-without-not-valid"),
        {},
    ),
}


@pytest.mark.parametrize("shape", sorted(CORPUS_SHAPES))
def test_corpus_shapes_round_trip(shape: str, pg_server: Server, tmp_path: Path) -> None:
    sql, rule_ids, settings = CORPUS_SHAPES[shape]
    folder = write_migrations(tmp_path / "m", split_example(sql))
    (history,) = replay_histories([folder], Settings(**settings))  # type: ignore[arg-type]
    rules = [*DEFAULT, *(r for r in RULES if not r.enabled and r.fix)]
    hits = [h for h in _hits(history, rules) if h.rule.id in rule_ids]
    assert {h.rule.id for h in hits} == set(rule_ids), [h.rule.id for h in hits]
    cases = [Case(shape, history, h) for h in fixed_hits(hits)]
    _check(run_cases(pg_server, cases, _rules_for))
    fixes = {h.rule.id: h.fix or "" for h in hits}
    if shape == "rename-then-rename":
        first = next(h for h in hits if h.source.display.endswith("0002_rename.sql"))
        assert "CREATE VIEW public.flows AS SELECT * FROM public.request_flows;" in (
            first.fix or ""
        )
    elif shape == "rename-column-reused":
        assert not fixes["rename-column"]
        (hit,) = hits
        assert "adds a new column kind" in hit.message
    elif shape == "fk-in-add-column":
        assert "ADD COLUMN IF NOT EXISTS device_id uuid;" in fixes["fk-without-not-valid"]
    elif shape == "volatile-default-primary-key":
        fix = fixes["add-column-volatile-default"]
        assert "identities_id_not_null_check" in fix
        assert "ADD CONSTRAINT identities_pkey PRIMARY KEY USING INDEX identities_pkey;" in fix
    elif shape == "quoted-type-in-a-transaction":
        assert 'ADD COLUMN IF NOT EXISTS mood_new "Mood";' in fixes["column-type-change"]


def test_a_rebuilt_table_keeps_its_name_for_the_running_application(lint_sql: LintSql) -> None:
    """authelia renames a table away, creates its replacement under the old name and copies
    the rows: the application keeps finding the table it names."""
    run = lint_sql(
        "CREATE TABLE totp (id bigint PRIMARY KEY, secret bytea);\n"
        "-- file: 0002_rebuild.sql\n"
        "ALTER TABLE totp RENAME TO _bkp_totp;\n"
        "CREATE TABLE IF NOT EXISTS totp (id bigint PRIMARY KEY, secret bytea NOT NULL);\n"
        "INSERT INTO totp (id, secret) SELECT id, secret FROM _bkp_totp;\n"
        "DROP TABLE _bkp_totp;\n"
    )
    assert not findings_of(run, "rename-table")


def test_a_conversion_to_a_re_created_enum_has_no_step_by_step_fix(lint_sql: LintSql) -> None:
    """Prisma's enum change: the old type is renamed and dropped in the same file, so a new
    column beside the old one cannot keep it."""
    run = lint_sql(
        "CREATE TYPE kind AS ENUM ('SPAN', 'EVENT', 'LOG');\n"
        "CREATE TABLE obs (id text PRIMARY KEY, kind kind NOT NULL);\n"
        "-- file: 0002_kind.sql\n"
        "BEGIN;\n"
        "CREATE TYPE kind_new AS ENUM ('SPAN', 'EVENT');\n"
        "ALTER TABLE obs ALTER COLUMN kind TYPE kind_new USING (kind::text::kind_new);\n"
        "ALTER TYPE kind RENAME TO kind_old;\n"
        "ALTER TYPE kind_new RENAME TO kind;\n"
        "DROP TYPE kind_old;\n"
        "COMMIT;\n"
    )
    (finding,) = findings_of(run, "column-type-change")
    assert not finding.fix


def test_no_placeholder_in_any_fix_template() -> None:
    """`<value>`, `...`: SQL a reader has to complete is advice, not a fix."""
    for rule in FIXED:
        assert rule.fix is not None
        for line in rule.fix.splitlines():
            code = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|'[^']*'", "", line)
            if code.strip().startswith("--"):
                continue
            assert not re.search(r"<[a-z][^<>]*>|\.\.\.", code), f"{rule.id}: {line}"


def test_fix_segments_split_at_the_migration_comments() -> None:
    fix = (
        "SET lock_timeout = '5s';\nALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\n"
        "-- in a later migration:\nALTER TABLE t VALIDATE CONSTRAINT c;\n"
    )
    parts = segments(fix)
    assert [p.text.strip().splitlines()[-1] for p in parts] == [
        "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;",
        "ALTER TABLE t VALIDATE CONSTRAINT c;",
    ]
    outside = segments("-- outside the migration tool: psql\nCREATE INDEX CONCURRENTLY i ON t (x);")
    assert [p.outside for p in outside] == [True]


# -- examples/ and the corpus -----------------------------------------------------------------

EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/review.md") if p.parent.is_dir())


def _example_histories() -> Iterator[tuple[str, ReplayedHistory]]:
    for folder in EXAMPLES:
        for history in replay_histories([folder], Settings()):
            yield folder.name, history


@pytest.mark.parametrize("folder", EXAMPLES, ids=[f.name for f in EXAMPLES])
def test_every_fix_of_the_examples_round_trips(folder: Path, pg_server: Server) -> None:
    rules = [*DEFAULT, *(r for r in RULES if not r.enabled and r.fix)]
    failing = frozenset(
        name
        for case in ("saas-app",)
        if folder.name == case
        for name in expected_failures().get(case, {})
    )
    outcomes: list[Outcome] = []
    for history in replay_histories([folder], Settings()):
        if history.profile.dialect != "postgres":
            continue  # another engine's fixes run on that engine (tests/test_sqlite.py)
        cases = [
            Case(folder.name, history, h)
            for h in fixed_hits(_hits(history, rules))
            # A file that fails on its own (saas-app's deliberate syntax error) cannot be fixed
            # by adding to it.
            if not any(h.source.display.endswith(name) for name in failing)
        ]
        assert cases or folder.name != "saas-app"
        outcomes += run_cases(pg_server, cases, _rules_for)
    _check(outcomes, failing)


def _shape(fix: str) -> str:
    """The fix's template branch: the leading keywords of each statement, repeats once."""
    shapes: list[str] = []
    for statement in re.sub(r"--[^\n]*|'[^']*'|\"[^\"]*\"", "", fix).split(";"):
        words = re.findall(r"\b[A-Z][A-Z_]+\b", statement)[:4]
        if words and (not shapes or shapes[-1] != " ".join(words)):
            shapes.append(" ".join(words))
    return " / ".join(shapes)


def _corpus_samples() -> list[tuple[str, ReplayedHistory, list[Hit], str, tuple[Path, ...]]]:
    rules = [*DEFAULT, *(r for r in RULES if not r.enabled and r.fix)]
    chosen: dict[tuple[str, str, str], tuple[int, str, Hit]] = {}
    histories: dict[str, tuple[ReplayedHistory, str, tuple[Path, ...]]] = {}
    for case in oracle_cases().values():
        if not case.corpus or not case.available or case.skip or case.missing_settings():
            continue
        (history,) = replay_histories([resolve(case.path)], case.make_settings())
        histories[case.id] = (history, case.setup_sql, tuple(resolve(f) for f in case.setup_files))
        # What a case costs: the statements applied and linted again up to its place.
        upto = list(itertools.accumulate((len(p) for p in history.parsed), initial=0))
        for hit in fixed_hits(_hits(history, rules)):
            key = (hit.rule.id, _shape(hit.fix or ""), history.profile.runner)
            cost = upto[min(Case(case.id, history, hit).file_index + 1, len(upto) - 1)]
            if key not in chosen or chosen[key][0] > cost:
                chosen[key] = (cost, case.id, hit)
    samples = []
    for case_id, (history, setup_sql, setup_files) in histories.items():
        hits = [hit for _, cid, hit in chosen.values() if cid == case_id]
        if hits:
            samples.append((case_id, history, hits, setup_sql, setup_files))
    return samples


@pytest.mark.skipif(not (REPO.parent / "shared" / "corpus").is_dir(), reason="no corpus here")
def test_corpus_fixes_round_trip(pg_server: Server) -> None:
    outcomes: list[Outcome] = []
    exercised: set[str] = set()
    runners: set[str] = set()
    for case_id, history, hits, setup_sql, setup_files in _corpus_samples():
        failing = frozenset(expected_failures().get(case_id, {}))
        cases = [Case(case_id, history, hit, setup_sql, setup_files) for hit in hits]
        exercised.update(hit.rule.id for hit in hits)
        runners.add(history.profile.runner)
        done = run_cases(pg_server, cases, _rules_for)
        for outcome in done:
            outcome.history_failures = [
                f for f in outcome.history_failures if not any(n in f for n in failing)
            ]
        outcomes += done
    _check(outcomes)
    # The corpus reaches most templates, under each runner it uses; the bad examples and the
    # CONCURRENTLY test above reach the rest.
    assert len(exercised) >= 25, sorted(exercised)
    assert runners >= {"none", "diesel", "flyway", "goose", "pop", "prisma"}, sorted(runners)
