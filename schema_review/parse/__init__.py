"""Parsing: SQL text -> statements with source spans. Parser nodes stay inside this package."""

from schema_review.parse.expressions import (
    Expression,
    column_refs,
    nextval_default,
    node_name,
    quote_ident,
    strip_locations,
    walk_dicts,
)
from schema_review.parse.postgres import (
    RESERVED_WORDS,
    ParseProblem,
    Statement,
    has_tree,
    long_identifier,
    parse_many,
    parse_postgres,
    references_actions_written,
    release_tree,
)
from schema_review.parse.source import SourceFile

__all__ = [
    "RESERVED_WORDS",
    "Expression",
    "ParseProblem",
    "SourceFile",
    "Statement",
    "column_refs",
    "has_tree",
    "long_identifier",
    "nextval_default",
    "node_name",
    "parse_many",
    "parse_postgres",
    "quote_ident",
    "references_actions_written",
    "release_tree",
    "strip_locations",
    "walk_dicts",
]
