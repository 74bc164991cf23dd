"""Every list of processors in the Terraform module and its docs is the registry's:
handlers.pipeline.PROCESSOR_NAMES, in the order the pipeline runs them.

The module's own registry is processors.tf (``processor_registry``, with
``processor_wiring`` beside it); variable validation blocks cannot read locals, so
variables.tf keeps literal lists, and descriptions and docs name the processors in prose.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.pipeline import PROCESSOR_NAMES

ROOT = Path(__file__).resolve().parents[2]
NAMES = list(PROCESSOR_NAMES)
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


def test_the_terraform_registry_is_the_python_one() -> None:
    text = (ROOT / "processors.tf").read_text()
    registry = _block(text, "processor_registry = [")
    assert re.findall(r'^      name\s+= "(\w+)"', registry, re.M) == NAMES
    # Each entry is switched by its create_<name> input.
    assert re.findall(r"^      enabled\s+= var\.(\w+)", registry, re.M) == [
        f"create_{n}" for n in NAMES
    ]
    wiring = _block(text, "processor_wiring = {")
    assert re.findall(r"^    (\w+) = \{$", wiring, re.M) == NAMES


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
        ("README.md", "| `PROCESSORS` |"),
    ],
)
def test_the_complete_lists_name_every_processor(page: str, anchor: str) -> None:
    text = (ROOT / page).read_text()
    line = text[text.index(anchor) :].split("\n", 2)[:2]
    assert NAMES in [run for part in line for run in _runs(part)], page


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
