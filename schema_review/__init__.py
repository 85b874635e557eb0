"""schema-review: a schema linter and review-report generator for SQL migrations.

The pipeline flows one way: discover -> parse -> model (replay) -> rules -> findings -> output.
"""

__version__ = "0.1.0"
