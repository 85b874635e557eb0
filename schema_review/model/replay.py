"""Replay parsed statements, in apply order, into an in-memory schema.

The model operations (`operations.py`) are dialect-neutral; each dialect has a front end
that reads its parser's statements and calls them: `postgres/` (pglast's trees), `mysql.py`
and `sqlite.py` (sqlglot's, over `sqlglot_front.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from schema_review.model.schema import SchemaModel
from schema_review.parse import Statement
from schema_review.profile import Profile


def replay(statements: Iterable[Statement], profile: Profile | None = None) -> SchemaModel:
    """Replay statements in order into a new schema model, with the front end of the
    profile's dialect."""
    profile = profile or Profile()
    replayer = front_end(profile)
    for statement in statements:
        replayer.apply(statement)
    return replayer.model


class FrontEnd(Protocol):
    """A dialect's front end: replays its parser's statements into `model`."""

    model: SchemaModel

    def apply(self, statement: Statement) -> None: ...


def front_end(profile: Profile) -> FrontEnd:
    if profile.dialect == "mysql":
        from schema_review.model.mysql import MysqlReplayer

        return MysqlReplayer(profile)
    if profile.dialect == "sqlite":
        from schema_review.model.sqlite import SqliteReplayer

        return SqliteReplayer(profile)
    from schema_review.model.postgres import PostgresReplayer

    return PostgresReplayer(profile)
