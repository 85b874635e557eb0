"""`schema-review schema`: the final schema as SQL, JSON and a Mermaid diagram.

The SQL is checked the strong way: applied to an empty database of the real server, it must
build the same catalog as the migrations do, compared object by object.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.export import history_label, schema_document, schema_sql
from schema_review.pipeline import replay_histories
from schema_review.verify.apply import install_stand_ins
from schema_review.verify.build import build_on_server
from schema_review.verify.catalog import dump_catalog
from schema_review.verify.compare import compare
from schema_review.verify.server import Server
from tests.helpers import REPO

EXAMPLES = ["examples/saas-app/migrations", "examples/supabase-app/supabase/migrations"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_schema_sql_rebuilds_the_catalog_the_migrations_build(
    pg_server: Server, example: str
) -> None:
    (history,) = replay_histories([REPO / example], Settings())
    migrated = build_on_server(pg_server, history)
    ddl = schema_sql(
        schema_document(history.model, history_label(history.migration_set)), history.model
    )
    with pg_server.scratch_database() as database:
        with database.connect() as connection:
            install_stand_ins(connection, history.profile)
            baseline = dump_catalog(connection, private=True)
        with database.connect() as connection:
            connection.execute(ddl.encode())
            rebuilt = dump_catalog(connection, baseline)
    comparison = compare(migrated.catalog, rebuilt)
    assert comparison.differences == [], "\n".join(map(str, comparison.differences))
    assert comparison.matched == comparison.compared > 20


def test_schema_json_and_mermaid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["schema", EXAMPLES[0], "--format", "json"])
    assert result.exit_code == 0, result.output
    (document,) = json.loads(result.output)
    assert document["format"] == "schema-review.schema" and document["version"] == 1
    assert document["history"] == EXAMPLES[0]
    orders = next(t for t in document["tables"] if t["name"] == "orders")
    assert orders["primary_key"] == {"name": "orders_pkey", "columns": ["id"], "deferrable": False}
    assert {c["name"]: c["type"] for c in orders["columns"]}["created_at"] == (
        "timestamp with time zone"
    )

    out = tmp_path / "schema.mmd"
    result = CliRunner().invoke(
        main, ["schema", EXAMPLES[0], "--format", "mermaid", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    diagram = out.read_text(encoding="utf-8")
    assert diagram.startswith("erDiagram\n")
    assert '    accounts ||--o{ orders : "account_id"' in diagram
    assert "        bigint id PK" in diagram

    # Several histories: one fenced diagram per history in a Markdown page (each example
    # has a configuration of its own: one run takes one, named here).
    config = tmp_path / "one.yaml"
    config.write_text("{}\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["schema", *EXAMPLES, "--format", "mermaid", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("```mermaid") == 2


def test_schema_reports_a_missing_path_as_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
