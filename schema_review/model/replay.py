"""Replay parsed statements, in apply order, into an in-memory schema.

The model operations (`operations.py`) are dialect-neutral; each dialect has a front end
that reads its parser's statements and calls them: `postgres/` (pglast's trees), `mysql.py`
and `sqlite.py` (sqlglot's, over `sqlglot_front.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from schema_review.model.objects import check_shared_empties
from schema_review.model.schema import SchemaModel
from schema_review.parse import Statement, release_tree
from schema_review.profile import Profile


def replay(
    statements: Iterable[Statement], profile: Profile | None = None, keep_trees: bool = True
) -> SchemaModel:
    """Replay statements in order into a new schema model, with the front end of the
    profile's dialect; without `keep_trees`, each statement's parse tree is dropped once it
    is replayed (the model, its changes and the statements' compact facts are what the rules
    and reports read)."""
    profile = profile or Profile()
    replayer = front_end(profile)
    for statement in statements:
        replayer.apply(statement)
        if not keep_trees:
            release_tree(statement)
    replayer.share_unchanged_snapshots()
    model = replayer.model
    check_shared_empties()
    # The front end's state goes now: its handlers are its bound methods, a cycle that
    # the command line's collector (off) would never free, and the state names the model.
    vars(replayer).clear()
    return model


class FrontEnd(Protocol):
    """A dialect's front end: replays its parser's statements into `model`."""

    model: SchemaModel

    def apply(self, statement: Statement) -> None: ...

    def share_unchanged_snapshots(self) -> None: ...


def front_end(profile: Profile) -> FrontEnd:
    if profile.dialect == "mysql":
        from schema_review.model.mysql import MysqlReplayer

        return MysqlReplayer(profile)
    if profile.dialect == "sqlite":
        from schema_review.model.sqlite import SqliteReplayer

        return SqliteReplayer(profile)
    from schema_review.model.postgres import PostgresReplayer

    return PostgresReplayer(profile)
