"""The PostgreSQL front end of the replay: libpg_query's statements -> model operations.

One handler per statement kind, found by name (`_on_<Kind>`), the way sqlglot's generator
finds `<key>_sql`; the handlers are grouped by what they are about, one module each. A
statement without a handler is kept as opaque; a handler that fails on an odd statement
records an internal error for that statement and the replay goes on.
"""

from __future__ import annotations

from schema_review.model.postgres.blocks import BlockStatements
from schema_review.model.postgres.definitions import DefinitionStatements
from schema_review.model.postgres.drops import DropStatements
from schema_review.model.postgres.session import SessionStatements
from schema_review.model.postgres.tables import TableStatements

__all__ = ["PostgresReplayer"]


class PostgresReplayer(
    TableStatements, DefinitionStatements, DropStatements, BlockStatements, SessionStatements
):
    """Replays pglast (libpg_query JSON) statements: the statement groups, together."""
