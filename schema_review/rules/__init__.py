"""Rules: load YAML rule packs and evaluate them over the replayed schema."""

from schema_review.rules.engine import Hit, MigrationFacts, evaluate, rule_applies
from schema_review.rules.loader import (
    SEVERITIES,
    Rule,
    RuleError,
    builtin_rules_dir,
    load_rule_file,
    load_rules,
)

__all__ = [
    "SEVERITIES",
    "Hit",
    "MigrationFacts",
    "Rule",
    "RuleError",
    "builtin_rules_dir",
    "evaluate",
    "load_rule_file",
    "load_rules",
    "rule_applies",
]
