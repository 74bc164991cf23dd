"""Assemble README.md's sections from docs/*.md (between ``<!-- BEGIN_X -->`` markers).

    python scripts/readme.py            rewrite README.md
    python scripts/readme.py --check    exit 1 when README.md is out of date with docs/

QUICKSTART is docs/quickstart.md; HANDLERS is docs/handlers.md followed by the processor pages
(headings demoted two levels); OPERATIONS, RELIABILITY, PERMISSIONS and PERFORMANCE are their
docs pages (demoted one level unless they start at ``##``). The MODULE and LOCAL sections are
written in README.md itself, and TF_DOCS by scripts/tfdocs.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from handlers.registry import PROCESSORS  # noqa: E402

# The processors' own pages, in the registry's order.
PROCESSOR_PAGES = tuple(p.page for p in PROCESSORS if p.page is not None)


def demote(text: str, levels: int) -> str:
    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = "#" * levels + line
        out.append(line)
    return "".join(out)


def put(readme: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN_{marker} -->\n).*?(<!-- END_{marker} -->)", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no <!-- BEGIN_{marker} --> ... END_{marker} markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), readme)


def assemble(readme: str) -> str:
    docs = ROOT / "docs"
    readme = put(readme, "QUICKSTART", (docs / "quickstart.md").read_text())
    handlers = (docs / "handlers.md").read_text()
    for name in PROCESSOR_PAGES:
        handlers += "\n" + demote((docs / f"{name}.md").read_text(), 2)
    readme = put(readme, "HANDLERS", handlers)
    for marker in ("OPERATIONS", "RELIABILITY", "PERMISSIONS", "PERFORMANCE"):
        text = (docs / f"{marker.lower()}.md").read_text()
        readme = put(readme, marker, text if text.lstrip().startswith("## ") else demote(text, 1))
    return readme


def main(argv: list[str]) -> int:
    path = ROOT / "README.md"
    current = path.read_text()
    wanted = assemble(current)
    if "--check" in argv:
        if wanted != current:
            print(
                "README.md is out of date with docs/: run python scripts/readme.py", file=sys.stderr
            )
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
