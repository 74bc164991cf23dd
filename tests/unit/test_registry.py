"""Every list of processors is the registry's: ``handlers.registry.PROCESSORS``, in the
order the pipeline runs them.

Python derives its lists from it (the pipeline, ops, bench, scripts, tests); a test here
finds any literal list of processors left in the Python sources. The Terraform module's own
registry is processors.tf (``processor_registry``, with ``processor_wiring`` beside it),
held to the Python one entry by entry; variable validation blocks cannot read locals, so
variables.tf keeps literal lists, and descriptions and docs name the processors in prose,
all checked here too.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from handlers import registry
from handlers.registry import PROCESSORS, ProcessorSpec

ROOT = Path(__file__).resolve().parents[2]
NAMES = list(registry.NAMES)
_NAME = re.compile(r"\b(" + "|".join(NAMES) + r")\b")
# What may stand between two names of one list: quotes, backticks, commas, bars, "or", "and".
_BETWEEN = re.compile(r"""^[\s`"',|]*(?:(?:or|and)\b[\s`"',|]*)?$""")


def _block(text: str, start: str) -> str:
    """The text of the block that opens at ``start`` (up to its matching closing bracket)."""
    at = text.index(start)
    opening = text.index(start[-1], at + len(start) - 1)
    pairs = {"{": "}", "[": "]", "(": ")"}
    close, depth = pairs[text[opening]], 0
    for i in range(opening, len(text)):
        if text[i] == text[opening]:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return text[opening : i + 1]
    raise AssertionError(f"unclosed block {start!r}")


def _runs(line: str) -> list[list[str]]:
    """The lists of processor names in a line: names separated only by punctuation, "or" or
    "and"."""
    runs: list[list[str]] = []
    previous: re.Match[str] | None = None
    for match in _NAME.finditer(line):
        if previous is not None and _BETWEEN.match(line[previous.end() : match.start()]):
            runs[-1].append(match.group(0))
        else:
            runs.append([match.group(0)])
        previous = match
    return runs


def _is_ordered_subset(run: list[str]) -> bool:
    positions = [NAMES.index(n) for n in run]
    return positions == sorted(set(positions))


def _variable(name: str) -> str:
    text = (ROOT / "variables.tf").read_text()
    found = re.search(rf'^variable "{name}" \{{\n(.*?)^\}}', text, re.M | re.S)
    assert found, f"variables.tf has no variable {name}"
    return found.group(1)


def _tf_registry() -> list[str]:
    """processors.tf's ``processor_registry`` entries, one text each."""
    text = _block((ROOT / "processors.tf").read_text(), "processor_registry = [")
    return re.findall(r"^    \{\n(.*?)^    \}", text, re.M | re.S)


def _tf_field(entry: str, name: str) -> str:
    found = re.search(rf"^      {name}\s+= (.*)$", entry, re.M)
    assert found, f"processor_registry entry without {name}: {entry}"
    return found.group(1).strip()


def _tf_wiring() -> dict[str, str]:
    """processors.tf's ``processor_wiring``: processor => the text of its entry."""
    text = _block((ROOT / "processors.tf").read_text(), "processor_wiring = {")
    return dict(re.findall(r"^    (\w+) = \{\n(.*?)^    \}", text, re.M | re.S))


def test_the_terraform_registry_is_the_python_one() -> None:
    entries = _tf_registry()
    assert [_tf_field(e, "name").strip('"') for e in entries] == NAMES
    # Each entry is switched by its create_<name> input.
    assert [_tf_field(e, "enabled") for e in entries] == [f"var.create_{n}" for n in NAMES]
    assert list(_tf_wiring()) == NAMES


@pytest.mark.parametrize("spec", PROCESSORS, ids=NAMES)
def test_each_terraform_entry_says_what_the_python_one_says(spec: ProcessorSpec) -> None:
    entry = _tf_registry()[NAMES.index(spec.name)]
    assert _tf_field(entry, "window_state") == str(spec.window_state).lower()
    # A processor that needs the new image refuses a stream without it, whatever the inputs.
    needs_images = '["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]'
    assert (_tf_field(entry, "view_types") == needs_images) == spec.needs_images
    # The function's environment: every variable the handler needs, none it does not read.
    wired = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s+=", _tf_wiring()[spec.name]))
    assert set(spec.required_env) <= wired, spec.name
    assert wired <= set(spec.env), spec.name


def test_every_processor_has_its_create_switch() -> None:
    for name in NAMES:
        body = _variable(f"create_{name}")
        assert f'description = "run the {name} processor' in body.lower(), name
        assert "type        = bool" in body, name


@pytest.mark.parametrize(
    ("variable", "prefix"),
    [("function_overrides", ["pipeline"]), ("function_groups", [])],
)
def test_the_validations_list_the_registry(variable: str, prefix: list[str]) -> None:
    body = _variable(variable)
    lists = [
        re.findall(r'"(\w+)"', found)
        for found in re.findall(r"setsubtract\([^\[]*(\[[^\]]*\])", body)
    ]
    assert lists == [prefix + NAMES], variable
    messages = re.findall(r'error_message = "([^"]*)"', body)
    assert [run for m in messages for run in _runs(m) if len(run) > 1] == [NAMES], variable


def test_no_other_terraform_file_decides_by_processor_name() -> None:
    for path in sorted(ROOT.glob("*.tf")):
        if path.name in {"processors.tf", "variables.tf"}:
            continue
        literal = re.findall(r'contains\([^)]*"(?:' + "|".join(NAMES) + r')"', path.read_text())
        assert literal == [], f"{path.name} tests processor names itself: {literal}"


def _pages() -> list[Path]:
    return [
        *sorted(ROOT.glob("*.tf")),
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("*/*.tf")),
        *sorted((ROOT / "examples").glob("*/README.md")),
    ]


def test_every_list_of_processors_is_in_registry_order_and_complete() -> None:
    """A list of processors anywhere in the module or its docs is in pipeline order; one that
    names all but one of them is meant to be complete and must name all (a list that missed a
    new processor)."""
    wrong: list[str] = []
    for path in _pages():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for run in _runs(line):
                if len(run) < 2:
                    continue
                if not _is_ordered_subset(run) or (len(run) >= len(NAMES) - 1 and run != NAMES):
                    wrong.append(f"{path.relative_to(ROOT)}:{number}: {run}")
    assert wrong == []


@pytest.mark.parametrize(
    ("page", "anchor"),
    [
        ("outputs.tf", 'output "processors"'),
        ("variables.tf", 'variable "function_overrides"'),
        ("docs/handlers.md", "| `PROCESSORS` |"),
    ],
)
def test_the_complete_lists_name_every_processor(page: str, anchor: str) -> None:
    text = (ROOT / page).read_text()
    line = text[text.index(anchor) :].split("\n", 2)[:2]
    assert NAMES in [run for part in line for run in _runs(part)], page


def test_the_readme_table_has_one_row_per_processor_in_order() -> None:
    """The README's "processors at a glance": a new processor is one more row there."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## The processors at a glance", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|.*\| `create_(\w+)` \((?:on|off)\) \|", table, re.M)
    assert [name for name, _ in rows] == NAMES
    assert all(name == switch for name, switch in rows), rows


def _variable_parts() -> dict[str, list[str]]:
    """variables.tf's parts: banner title => the variables under it, in order."""
    text = (ROOT / "variables.tf").read_text()
    parts: dict[str, list[str]] = {}
    title = ""
    for line in text.splitlines():
        banner = re.match(r"^# (\S.*)$", line)
        if banner and not parts.get(title) and title:
            continue  # a banner's further comment lines
        if banner:
            title = banner.group(1)
            parts[title] = []
        elif found := re.match(r'^variable "(\w+)"', line):
            parts[title].append(found.group(1))
    return parts


def test_each_processor_has_its_part_of_variables_switch_first() -> None:
    parts = _variable_parts()
    for name in NAMES:
        titles = [t for t in parts if t.lower().startswith(f"{name} processor")]
        assert len(titles) == 1, f"variables.tf has no single part for {name}: {list(parts)}"
        inputs = parts[titles[0]]
        assert inputs[0] == f"create_{name}", inputs
        elsewhere = [
            v
            for t, vs in parts.items()
            if t != titles[0] and not t.startswith("Deprecated")
            for v in vs
            if v.startswith((f"{name}_", f"create_{name}_"))
        ]
        assert elsewhere == [], f"inputs of {name} outside its part: {elsewhere}"


# ---------------------------------------------------------------------------------------------
# The Python registry against the handler modules, the docs and every Python list


def _source(module: str) -> str:
    return (ROOT / (module.replace(".", "/") + ".py")).read_text()


@pytest.mark.parametrize("spec", PROCESSORS, ids=NAMES)
def test_each_entry_is_what_its_module_reads_and_calls(spec: ProcessorSpec) -> None:
    module = importlib.import_module(spec.module)
    assert callable(module.build) and callable(module.handler), spec.module
    text = _source(spec.module)
    read = re.findall(r'(?:env_\w+\(\s*env,\s*|env\.get\()"([A-Z][A-Z0-9_]+)"', text)
    # AWS_* are the Lambda runtime's own variables, not the processor's configuration.
    assert sorted({v for v in read if not v.startswith("AWS_")}) == sorted(spec.env)
    required = re.findall(r'env_required\(\s*env,\s*"([A-Z][A-Z0-9_]+)"', text)
    assert sorted(required) == sorted(spec.required_env)
    assert sorted(set(re.findall(r'aws\.client\("(\w+)"', text))) == sorted(spec.services)


def _documented_env() -> dict[str, str]:
    """Variable => its "required" cell, from the tables of docs/handlers.md and the
    processor pages."""
    pages = [ROOT / "docs" / "handlers.md"]
    pages += [ROOT / "docs" / f"{p.page}.md" for p in PROCESSORS if p.page]
    rows: dict[str, str] = {}
    for page in pages:
        for name, *cells in re.findall(
            r"^\| `([A-Z][A-Z0-9_]+)` \|([^|]*)\|([^|]*)\|", page.read_text(), re.M
        ):
            # handlers.md: | var | processor | required | ...; a page: | var | required | ...
            rows.setdefault(name, cells[1] if page.name == "handlers.md" else cells[0])
    return {k: v.strip() for k, v in rows.items()}


def test_the_docs_document_every_variable_of_every_processor() -> None:
    documented = _documented_env()
    for spec in PROCESSORS:
        for name in spec.env:
            assert name in documented, f"{name} ({spec.name}) is not documented"
            required = documented[name].startswith("yes")
            assert required == (name in spec.required_env), (name, documented[name])


def test_the_docs_list_every_entry_point_in_registry_order() -> None:
    text = (ROOT / "docs" / "handlers.md").read_text()
    listed = re.findall(r"^\| `handlers\.(\w+)\.handler` \|", text, re.M)
    assert listed == list(registry.ENTRY_POINTS)


def test_every_python_list_derives_from_the_registry() -> None:
    from bench import api, imports, ours
    from ddbt.ops import commands
    from tests.unit import test_package

    # (bench.latency and bench.powertools_contenders need the bench's requirements: the scan
    # below covers them)
    assert list(ours.NAMES) == NAMES
    assert list(imports.ENTRY_POINTS) == [*NAMES, "pipeline"]
    assert set(api.SERVICES) >= set(registry.ENTRY_POINTS)
    assert list(ours.IMAGES_NEEDED) == [p.name for p in PROCESSORS if p.needs_images]
    assert commands._processor_names() == ", ".join([*NAMES, "pipeline"])
    assert list(test_package.ENTRY_POINTS) == [*NAMES, "pipeline", "archiver"]


def _literal_lists(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Tuple, list and set displays of processor names, and comma-separated strings of
    them, with their line numbers."""
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(values) == len(node.elts) and values and set(values) <= set(NAMES):
                found.append((node.lineno, [str(v) for v in values]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(",")
            if len(parts) > 1 and set(parts) <= set(NAMES):
                found.append((node.lineno, parts))
    return found


def test_no_python_source_spells_out_the_processors() -> None:
    """A list naming all processors, or all but one, is a copy of the registry that
    the next processor would miss: derive it from ``handlers.registry`` instead. Shorter
    lists are a deliberate choice of processors (a test's pipeline) and may stay."""
    copies: list[str] = []
    for folder in ("handlers", "ddbt", "bench", "scripts", "tests", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "handlers" / "registry.py":
                continue
            for line, names in _literal_lists(ast.parse(path.read_text())):
                if len(set(names)) >= len(NAMES) - 1:
                    copies.append(f"{path.relative_to(ROOT)}:{line}: {names}")
    assert copies == []
