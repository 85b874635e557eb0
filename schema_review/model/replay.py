"""Replay parsed statements, in apply order, into an in-memory schema.

The model operations (`operations.py`) are dialect-neutral; each dialect has a front end
that reads its parser's statements and calls them (`postgres.py` for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable

from schema_review.model.postgres import PostgresReplayer
from schema_review.model.schema import SchemaModel
from schema_review.parse import Statement, release_tree
from schema_review.profile import Profile


def replay(
    statements: Iterable[Statement], profile: Profile | None = None, keep_trees: bool = True
) -> SchemaModel:
    """Replay statements in order into a new schema model; without `keep_trees`, each
    statement's parse tree is dropped once it is replayed (the model, its changes and the
    statements' compact facts are what the rules and reports read)."""
    replayer = PostgresReplayer(profile or Profile())
    for statement in statements:
        replayer.apply(statement)
        if not keep_trees:
            release_tree(statement)
    return replayer.model
