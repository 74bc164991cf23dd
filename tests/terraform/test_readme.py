"""docs/module.md documents every input and output of the module, the README indexes them, and
both generated parts are current (``make tf-docs`` regenerates them); the README keeps its
outline and stays short."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MODULE_DOC = ROOT / "docs" / "module.md"


def _declared(kind: str) -> set[str]:
    pattern = re.compile(rf'^{kind} "([A-Za-z0-9_-]+)"', re.M)
    return {name for path in ROOT.glob("*.tf") for name in pattern.findall(path.read_text())}


def _section(begin: str, end: str, page: Path = MODULE_DOC) -> str:
    text = page.read_text()
    assert begin in text and end in text, f"{page.name} lacks {begin} ... {end}"
    return text.split(begin, 1)[1].split(end, 1)[0]


def _table_rows(section: str, heading: str) -> set[str]:
    body = section.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| <a name=\"\w+\"></a> \[([A-Za-z0-9_-]+)\]", body, re.M))


@pytest.mark.parametrize(("kind", "table"), [("variable", "Inputs"), ("output", "Outputs")])
def test_every_declaration_is_in_its_table(kind: str, table: str) -> None:
    documented = _table_rows(_section("<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"), table)
    declared = _declared(kind)
    assert declared, f"no {kind} found in *.tf"
    assert sorted(declared - documented) == [], f"{kind}s missing from the {table} table"
    assert sorted(documented - declared) == [], f"the {table} table has {kind}s that do not exist"


def test_the_readme_index_links_every_input_and_output() -> None:
    index = _section("<!-- BEGIN_TF_INDEX -->", "<!-- END_TF_INDEX -->", README)
    for kind, anchor in (("variable", "input"), ("output", "output")):
        linked = set(re.findall(rf"\(docs/module\.md#{anchor}_([A-Za-z0-9_-]+)\)", index))
        assert linked == _declared(kind), f"the README index of {kind}s is not the module's"


def test_generated_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tfdocs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_stale_table_or_index_fails_the_check(tmp_path: Path) -> None:
    """The check compares each page with what the *.tf files give."""
    variables = ROOT / "variables.tf"
    text = variables.read_text()
    renamed = text.replace('variable "name" {', 'variable "name_renamed_for_the_test" {', 1)
    assert renamed != text
    copy = tmp_path / "repo"
    (copy / "docs").mkdir(parents=True)
    (copy / "scripts").mkdir()
    for path in [*ROOT.glob("*.tf"), README, MODULE_DOC, ROOT / "scripts" / "tfdocs.py"]:
        (copy / path.relative_to(ROOT)).write_text(path.read_text())
    script = [sys.executable, str(copy / "scripts" / "tfdocs.py"), "--check"]
    assert subprocess.run(script, capture_output=True, check=False).returncode == 0
    (copy / "variables.tf").write_text(renamed)
    result = subprocess.run(script, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "make tf-docs" in result.stderr


def test_the_readme_keeps_its_outline_and_stays_short() -> None:
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == [
        "Quick start",
        "Using the module",
        "The processors at a glance",
        "The guarantees",
        "The local runtime in brief",
        "Documentation",
        "Inputs and outputs",
    ]
    by_hand = text.split("<!-- BEGIN_TF_INDEX -->", 1)[0]
    assert len(by_hand.splitlines()) <= 400
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", quick_start, re.S)
    assert [line.split("#")[0].strip() for line in commands[0].splitlines()] == [
        "make demo",
        "",
        "make test",
    ]


def test_module_page_covers_the_essentials() -> None:
    module = MODULE_DOC.read_text().split("<!-- BEGIN_TF_DOCS -->", 1)[0]
    for needle in (
        'source = "',
        "examples/complete",
        "examples/existing-table",
        "create = false",
        "on_failure_destination",
        "stream_arn_change_acknowledged",
        "global table",
        "TF_PLUGIN_MIRROR",
        "5.100",
        "function_groups",
        "eventbus_rules",
        "replica_table_arn",
        "create_etl_glue_table",
        "json_extract_scalar",
    ):
        assert needle in module, f"docs/module.md does not mention {needle!r}"


def test_the_headline_figures_are_copied_from_the_docs_pages_and_checked(tmp_path: Path) -> None:
    """The README's figures are the docs pages' headline blocks, links rewritten; a README
    whose copy differs fails ``scripts/readme.py --check`` (make lint)."""
    for marker, page in (("RELIABILITY", "reliability"), ("PERFORMANCE", "performance")):
        copied = _section(f"<!-- BEGIN_{marker} -->", f"<!-- END_{marker} -->", README)
        source = _section(
            "<!-- BEGIN_HEADLINE -->", "<!-- END_HEADLINE -->", ROOT / "docs" / f"{page}.md"
        )
        unlinked = [re.sub(r"\]\([^)]*\)", "]", text).splitlines() for text in (copied, source)]
        assert unlinked[0] == unlinked[1]
        assert "](#" not in copied, "a page-relative anchor was not rewritten for the README"
    copy = tmp_path / "repo"
    (copy / "docs").mkdir(parents=True)
    (copy / "scripts").mkdir()
    for path in [
        *ROOT.glob("*.tf"),
        README,
        *(ROOT / "docs").glob("*.md"),
        ROOT / "scripts" / "tfdocs.py",
        ROOT / "scripts" / "readme.py",
    ]:
        (copy / path.relative_to(ROOT)).write_text(path.read_text())
    script = [sys.executable, str(copy / "scripts" / "readme.py"), "--check"]
    assert subprocess.run(script, capture_output=True, check=False).returncode == 0
    text = README.read_text()
    stale = text.replace("**538 ms**", "**539 ms**")
    assert stale != text
    (copy / "README.md").write_text(stale)
    result = subprocess.run(script, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "headline figures" in result.stderr
