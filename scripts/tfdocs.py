"""Generate the module's inputs/outputs documentation from variables.tf and outputs.tf.

A small reader for `terraform fmt`-formatted files (no terraform-docs needed): for each
``variable``/``output`` block it takes the top-level ``description``, ``type`` and ``default``
attributes, and the banner comment (``# Title`` between ``####`` lines) it stands under.

- docs/module.md, between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``: the full
  tables (name, description, type, default, required; name and description for outputs);
- README.md, between ``<!-- BEGIN_TF_INDEX -->`` and ``<!-- END_TF_INDEX -->``: an index, one
  row per banner part, every name linked to its row in docs/module.md.

usage: tfdocs.py [--check]   (--check: exit 1 when either page is out of date)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
INDEX_BEGIN, INDEX_END = "<!-- BEGIN_TF_INDEX -->", "<!-- END_TF_INDEX -->"
TABLES_PAGE = "docs/module.md"
BLOCK = re.compile(r'^(variable|output) "([A-Za-z0-9_-]+)" \{\s*$')
ATTRIBUTE = re.compile(r"^  ([a-z_]+)\s*=\s*(.*)$")


@dataclass
class Item:
    kind: str
    name: str
    attributes: dict[str, str]
    part: str = ""


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
    i, part, in_banner, titled = 0, "", False, False
    while i < len(lines):
        line = lines[i]
        if len(line) > 3 and set(line) == {"#"}:
            in_banner, titled = not in_banner, False
        elif in_banner and not titled and line.startswith("# "):
            part, titled = line[2:].strip(), True
        match = BLOCK.match(line)
        i += 1
        if not match:
            continue
        item = Item(match.group(1), match.group(2), {}, part)
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


def _items(root: Path, kind: str) -> list[Item]:
    return [item for f in sorted(root.glob("*.tf")) for item in parse(f) if item.kind == kind]


def _part_title(banner: str) -> str:
    """A banner without its parenthesised remarks: "ETL processor: S3 bucket (glue.tf)" =>
    "ETL processor: S3 bucket"."""
    return re.sub(r"\s*\([^)]*\)", "", banner).strip() or "Other"


def render_index(root: Path = ROOT) -> str:
    """README's index: per banner part (in file order), its names linked to the full tables."""
    out = [INDEX_BEGIN]
    for kind, heading in (("variable", "Inputs"), ("output", "Outputs")):
        anchor = "input" if kind == "variable" else "output"
        parts: dict[str, list[str]] = {}
        for item in _items(root, kind):
            parts.setdefault(_part_title(item.part), []).append(item.name)
        total = sum(len(names) for names in parts.values())
        out += [
            "",
            f"**{heading}** ({total}; full table with types and defaults: "
            f"[{TABLES_PAGE}]({TABLES_PAGE}#{heading.lower()})):",
            "",
            "| Part | Names |",
            "|---|---|",
        ]
        for title, names in parts.items():
            links = ", ".join(f"[`{n}`]({TABLES_PAGE}#{anchor}_{n})" for n in names)
            out.append(f"| {_cell(title)} | {links} |")
    out.append(INDEX_END)
    return "\n".join(out)


def render(root: Path = ROOT) -> str:
    variables = _items(root, "variable")
    outputs = _items(root, "output")
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


def _replace(path: Path, begin: str, end: str, body: str, check: bool) -> int:
    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        print(f"{path}: markers {begin} / {end} not found", file=sys.stderr)
        return 1
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = head + body + tail
    if check:
        if new != text:
            print(
                f"{path.relative_to(ROOT)}: the generated inputs/outputs are out of date; "
                "run `make tf-docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
    return 0


def update(check: bool) -> int:
    """Write (or with ``check`` compare) the tables page and the README index."""
    tables = _replace(ROOT / TABLES_PAGE, BEGIN, END, render(), check)
    index = _replace(ROOT / "README.md", INDEX_BEGIN, INDEX_END, render_index(), check)
    return tables or index


if __name__ == "__main__":
    sys.exit(update("--check" in sys.argv[1:]))
