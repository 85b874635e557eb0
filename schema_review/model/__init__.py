"""The schema model and the replay of statements into it."""

from schema_review.model.changes import Change
from schema_review.model.objects import (
    Column,
    Constraint,
    EnumType,
    Event,
    Extension,
    Function,
    Index,
    Policy,
    Schema,
    SchemaObject,
    Sequence,
    Table,
    Trigger,
    TypeName,
    View,
)
from schema_review.model.replay import replay
from schema_review.model.schema import FINAL_KINDS, SchemaModel

__all__ = [
    "FINAL_KINDS",
    "Change",
    "Column",
    "Constraint",
    "EnumType",
    "Event",
    "Extension",
    "Function",
    "Index",
    "Policy",
    "Schema",
    "SchemaModel",
    "SchemaObject",
    "Sequence",
    "Table",
    "Trigger",
    "TypeName",
    "View",
    "replay",
]
