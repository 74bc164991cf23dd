"""Generate the README inputs/outputs tables from variables.tf and outputs.tf.

A small reader for `terraform fmt`-formatted files (no terraform-docs needed): for each
``variable``/``output`` block it takes the top-level ``description``, ``type`` and ``default``
attributes. The tables go between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``.

usage: tfdocs.py [--check] [README.md]   (--check: exit 1 when the README is out of date)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
BLOCK = re.compile(r'^(variable|output) "([A-Za-z0-9_-]+)" \{\s*$')
ATTRIBUTE = re.compile(r"^  ([a-z_]+)\s*=\s*(.*)$")


@dataclass
class Item:
    kind: str
    name: str
    attributes: dict[str, str]


def _depth_change(line: str) -> int:
    """Net count of opening minus closing brackets outside string literals."""
    depth, in_string, escaped = 0, False, False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            break
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
    return depth


def parse(path: Path) -> list[Item]:
    items: list[Item] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = BLOCK.match(lines[i])
        i += 1
        if not match:
            continue
        item = Item(match.group(1), match.group(2), {})
        depth = 1
        while i < len(lines) and depth > 0:
            line = lines[i]
            attribute = ATTRIBUTE.match(line) if depth == 1 else None
            change = _depth_change(line)
            if attribute:
                key, value_lines = attribute.group(1), [attribute.group(2)]
                inner = change
                while inner > 0 and i + 1 < len(lines):
                    i += 1
                    value_lines.append(lines[i])
                    inner += _depth_change(lines[i])
                item.attributes[key] = _dedent("\n".join(value_lines))
            else:
                depth += change
            i += 1
        items.append(item)
    return items


def _dedent(text: str) -> str:
    lines = text.splitlines()
    if len(lines) == 1:
        return text.strip()
    return "\n".join(
        [lines[0]] + [line[2:] if line.startswith("  ") else line for line in lines[1:]]
    )


def _string(value: str) -> str:
    """The text of a one-line HCL string literal (descriptions)."""
    try:
        return str(json.loads(value))
    except ValueError:
        return value


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    if "\n" in text:
        body = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        return "<pre>" + body.replace("\n", "<br/>") + "</pre>"
    return "`" + text.replace("|", "\\|") + "`"


def render(root: Path = ROOT) -> str:
    variables = [v for f in sorted(root.glob("*.tf")) for v in parse(f) if v.kind == "variable"]
    outputs = [o for f in sorted(root.glob("*.tf")) for o in parse(f) if o.kind == "output"]
    out = [
        BEGIN,
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|---|---|---|---|:---:|",
    ]
    for v in sorted(variables, key=lambda item: item.name):
        default = v.attributes.get("default")
        out.append(
            f'| <a name="input_{v.name}"></a> [{v.name}](#input_{v.name}) '
            f"| {_cell(_string(v.attributes.get('description', '')))} "
            f"| {_code(v.attributes.get('type', 'any'))} "
            f"| {'n/a' if default is None else _code(default)} "
            f"| {'yes' if default is None else 'no'} |"
        )
    out += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for o in sorted(outputs, key=lambda item: item.name):
        out.append(
            f'| <a name="output_{o.name}"></a> [{o.name}](#output_{o.name}) '
            f"| {_cell(_string(o.attributes.get('description', '')))} |"
        )
    out.append(END)
    return "\n".join(out)


def update(readme: Path, check: bool) -> int:
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{readme}: markers {BEGIN} / {END} not found", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if check:
        if new != text:
            print(
                f"{readme}: inputs/outputs tables are out of date; run `make tf-docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    sys.exit(update(Path(paths[0]) if paths else ROOT / "README.md", check))
