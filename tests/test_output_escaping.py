"""Output that cannot be forged (issue 18): names and identifiers from the migrations cannot
colour or rewrite a terminal, start a fake finding or workflow command, break JUnit XML, or
put a heading, an image, a link or HTML into a review or a pull request comment."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.output import markdown_code, markdown_text, printable

# Quoted identifiers a pull request can write: PostgreSQL takes any character in them.
HOSTILE_IDENTIFIERS = [
    "evil\n::error file=x::pwned",
    "\x1b]8;;http://evil\x07x",
    "![img](http://evil)",
    "# Heading",
    "x\n# Heading",
    "y\n![img](http://evil)",
    "[click](http://evil)",
    "<img src=x onerror=alert(1)>",
    "a|b",
    "\x1b[2J\x1b[31mred",
    "carriage\rreturn",
    "\u202ereversed",
]
# A file name with a terminal escape in it.
HOSTILE_FILE = "0002_\x1b[31mred\x07.sql"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    folder = tmp_path / "migrations"
    folder.mkdir()
    tables = "".join(
        f'CREATE TABLE "{name}" ("{name}" timestamp, note text);\n' for name in HOSTILE_IDENTIFIERS
    )
    (folder / "0001_tables.sql").write_text(tables, encoding="utf-8")
    (folder / HOSTILE_FILE).write_text("CREATE TABLE t2 (id int);\n", encoding="utf-8")
    return folder


def _run(*arguments: str) -> str:
    result = CliRunner().invoke(main, list(arguments))
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_text_output_escapes_control_characters(hostile: Path) -> None:
    output = _run("lint", "migrations", "--select", "all")
    assert not CONTROLS.search(output), "a control character reached the terminal"
    lines = output.splitlines()
    summary = lines.pop()
    assert summary.startswith("Found ")
    assert lines.pop().startswith("Settings: ")  # what the run used
    finding = re.compile(r"^migrations/\S.*?:\d+:\d+: (critical|high|medium|low|info) \[[a-z-]+\] ")
    for line in lines:
        assert finding.match(line), f"a line that is not a finding: {line!r}"
    count = int(re.search(r"Found (\d+) finding", summary).group(1))  # type: ignore[union-attr]
    assert len(lines) == count
    assert "0002_\\x1b[31mred\\x07.sql" in output
    assert "evil\\n::error file=x::pwned" in output


def test_github_annotations_cannot_be_forged(hostile: Path) -> None:
    output = _run("lint", "migrations", "--select", "all", "--format", "github")
    assert not CONTROLS.search(output)
    for line in output.splitlines():
        assert re.match(r"^::(error|warning|notice) file=migrations/", line) or line.startswith(
            "schema-review: "
        ), line
    assert "::error file=x::pwned" not in output.replace("%0A::error file=x::pwned", "")


def test_junit_is_always_well_formed(hostile: Path) -> None:
    output = _run("lint", "migrations", "--select", "all", "--format", "junit")
    root = ElementTree.fromstring(output)
    cases = root.findall(".//failure") + root.findall(".//skipped")  # skipped: below the gate
    assert cases
    assert not CONTROLS.search(output)
    assert any("\\x1b]8;;http://evil\\x07x" in (f.get("message") or "") for f in cases)


@pytest.mark.parametrize("template", ["review", "pr-comment", "summary"])
def test_markdown_cannot_be_given_headings_images_links_or_html(
    hostile: Path, template: str
) -> None:
    output = _run("report", "migrations", "--template", template, "--fail-on", "info")
    assert not CONTROLS.search(output)
    assert "evil" in output or template == "summary"
    fence = ""
    outside = []  # the lines Markdown reads as Markdown: not those of a fenced code block
    for line in output.splitlines():
        marker = re.match(r"^(`{3,})", line)
        if fence:
            if line.rstrip() == fence:
                fence = ""
            continue
        if marker:
            fence = marker.group(1)
            continue
        outside.append(line)
        text = line.lstrip("-*> ").lstrip()
        assert not text.startswith("# Heading"), line
        assert not text.startswith("::error"), line
        assert not text.startswith("![img]"), line
    # Nothing inside a code span renders either.
    markdown = re.sub(r"(?<!\\)(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(outside))
    # An image or a link needs `](`; HTML and autolinks need `<` before a letter.
    assert not re.search(r"(?<!\\)\]\(http://evil", markdown)
    assert not re.search(r"(?<![\\`])<img", markdown)


def test_markdown_escaping_reads_as_the_same_text() -> None:
    assert markdown_text("![img](http://evil)") == "![img\\](http://evil)"
    assert markdown_text("# Heading") == "\\# Heading"
    assert markdown_text("1. item") == "1\\. item"
    assert markdown_text("<img src=x>") == "\\<img src=x>"
    assert markdown_text("a|b", cell=True) == "a\\|b"
    assert markdown_text("evil\n::error") == "evil\\n::error"
    # Code spans are kept: messages use them on purpose.
    assert markdown_text("add `-- <why>` after") == "add `-- <why>` after"
    # An escaped backtick cannot hide an image from the escaping.
    assert markdown_text("\\`![x](http://e)`") == "\\\\`![x](http://e)`"
    assert markdown_text("a`b") == "a\\`b"
    assert markdown_code("a`b") == "`` a`b ``"
    assert markdown_code("x|y", cell=True) == "`x\\|y`"
    assert printable("\x1b]8;;http://evil\x07x") == "\\x1b]8;;http://evil\\x07x"
    assert printable("a\tb\nc", newlines=True) == "a\tb\nc"
    assert printable("\u202e\ud800") == "\\u202e\\ud800"


def test_escaping_changes_nothing_else(tmp_path: Path) -> None:
    """Ordinary names and messages are printed as they were."""
    for text in ("public.users.email", "text[]", "amount < 0", "a_b*c", "ARRAY['x']"):
        assert printable(text) == text
        assert markdown_text(text) == text


@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "gitlab", "github", "junit"])
def test_a_file_name_that_is_not_utf8_breaks_no_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output_format: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    (tmp_path / "migrations").mkdir()
    try:
        name = os.path.join(b"migrations", b"0001_\xff\xfe.sql")
        with open(name, "wb") as handle:
            handle.write(b"CREATE TABLE t (id int);\n")
    except OSError:
        pytest.skip("the file system refuses names that are not UTF-8")
    result = CliRunner().invoke(
        main, ["lint", "migrations", "--format", output_format, "-o", "out"]
    )
    assert result.exit_code == 1, result.output
    text = Path("out").read_text(encoding="utf-8")
    assert not CONTROLS.search(text)
    if output_format in ("json", "sarif", "gitlab"):
        json.loads(text)
    if output_format == "sarif":
        assert '"uri": "migrations/0001_%FF%FE.sql"' in text
    if output_format == "junit":
        ElementTree.fromstring(text)
    if output_format == "text":
        assert "migrations/0001_\\udcff\\udcfe.sql:1:1: " in text


@pytest.mark.parametrize("text", [*HOSTILE_IDENTIFIERS, 'q"b\\s/\t\x00\x7f\u2028', "é😀", "\udcff"])
def test_a_findings_json_line_is_jsons_own_encoding(text: str) -> None:
    """`lint --format json` writes each finding's line field by field: the text json's
    encoder gives its dict, whatever its strings hold; a field of another type than a
    finding's (a bool line) is left to the encoder."""
    from schema_review.findings import Finding
    from schema_review.output import _findings_json

    encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    fields = ("rule", "high", "locking", text, text + ".sql", 12345, 1, 12346, 80)
    for finding in (
        Finding(*fields, text, text, "0123456789abcdef"),
        Finding(*fields, None, None, "0123456789abcdef"),
        Finding("rule", "high", "locking", text, "f.sql", True, 1, 1, 1, None, None, text),
    ):
        assert next(_findings_json([finding], encode, {}, False)) == encode(finding.to_dict())
