"""Replay parsed statements, in apply order, into an in-memory schema.

The model operations (`operations.py`) are dialect-neutral; each dialect has a front end
that reads its parser's statements and calls them (`postgres.py` for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable

from schema_review.model.postgres import PostgresReplayer
from schema_review.model.schema import SchemaModel
from schema_review.parse import Statement
from schema_review.profile import Profile


def replay(statements: Iterable[Statement], profile: Profile | None = None) -> SchemaModel:
    """Replay statements in order into a new schema model."""
    replayer = PostgresReplayer(profile or Profile())
    for statement in statements:
        replayer.apply(statement)
    return replayer.model
