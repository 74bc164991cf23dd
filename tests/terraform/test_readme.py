"""The README documents every input and output of the module, and its generated tables are
current (``make tf-docs`` regenerates them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _declared(kind: str) -> set[str]:
    pattern = re.compile(rf'^{kind} "([A-Za-z0-9_-]+)"', re.M)
    return {name for path in ROOT.glob("*.tf") for name in pattern.findall(path.read_text())}


def _section(begin: str, end: str) -> str:
    text = README.read_text()
    assert begin in text and end in text, f"README.md lacks {begin} ... {end}"
    return text.split(begin, 1)[1].split(end, 1)[0]


def _table_rows(section: str, heading: str) -> set[str]:
    body = section.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| <a name=\"\w+\"></a> \[([A-Za-z0-9_-]+)\]", body, re.M))


def test_every_variable_is_in_the_inputs_table() -> None:
    documented = _table_rows(_section("<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"), "Inputs")
    variables = _declared("variable")
    assert variables, "no variable found in *.tf"
    assert sorted(variables - documented) == [], "variables missing from the README Inputs table"
    assert sorted(documented - variables) == [], "README documents variables that do not exist"


def test_every_output_is_in_the_outputs_table() -> None:
    documented = _table_rows(_section("<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"), "Outputs")
    outputs = _declared("output")
    assert outputs, "no output found in *.tf"
    assert sorted(outputs - documented) == [], "outputs missing from the README Outputs table"
    assert sorted(documented - outputs) == [], "README documents outputs that do not exist"


def test_generated_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tfdocs.py"), "--check", str(README)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_module_section_covers_the_essentials() -> None:
    module = _section("<!-- BEGIN_MODULE -->", "<!-- END_MODULE -->")
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
        assert needle in module, f"README module section does not mention {needle!r}"
