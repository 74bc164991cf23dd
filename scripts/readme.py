"""Keep README.md's generated parts current; the rest of it is written by hand.

    python scripts/readme.py            rewrite the generated parts
    python scripts/readme.py --check    exit 1 when a generated part is out of date (make lint)

Generated parts, each between ``<!-- BEGIN_X -->`` and ``<!-- END_X -->`` in README.md:

- RELIABILITY and PERFORMANCE: the ``<!-- BEGIN_HEADLINE -->`` block of docs/reliability.md
  and docs/performance.md (the figures live there; relative links are rewritten for the
  README's folder);
- TF_INDEX, and the full tables of docs/module.md: scripts/tfdocs.py (``make tf-docs``), whose
  check this one runs too.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import tfdocs

__all__ = ["HEADLINES", "assemble", "excerpt", "main", "put", "relink"]

ROOT = Path(__file__).resolve().parents[1]
# README marker => the docs page whose headline block it shows.
HEADLINES = {"RELIABILITY": "docs/reliability.md", "PERFORMANCE": "docs/performance.md"}
_LINK = re.compile(r"\]\(([^()\s]+)\)")


def _block(text: str, marker: str, where: str) -> re.Match[str]:
    found = re.search(rf"(<!-- BEGIN_{marker} -->\n)(.*?)(<!-- END_{marker} -->)", text, re.S)
    if found is None:
        raise SystemExit(f"{where} has no <!-- BEGIN_{marker} --> ... END_{marker} markers")
    return found


def put(readme: str, marker: str, body: str) -> str:
    """``readme`` with the text between marker ``marker``'s comments replaced by ``body``."""
    found = _block(readme, marker, "README.md")
    return readme[: found.start(2)] + body.rstrip("\n") + "\n" + readme[found.end(2) :]


def excerpt(page: str) -> str:
    """The headline block of a docs page."""
    return _block((ROOT / page).read_text(), "HEADLINE", page).group(2)


def relink(text: str, page: str) -> str:
    """Relative links of ``page`` (a path under the root) rewritten for README.md."""
    folder = Path(page).parent

    def fix(match: re.Match[str]) -> str:
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        moved = page if not path else os.path.normpath(folder / path).replace(os.sep, "/")
        return f"]({moved}{hash_}{anchor})"

    return _LINK.sub(fix, text)


def assemble(readme: str) -> str:
    for marker, page in HEADLINES.items():
        readme = put(readme, marker, relink(excerpt(page), page))
    return readme


def main(argv: list[str]) -> int:
    path = ROOT / "README.md"
    current = path.read_text()
    wanted = assemble(current)
    if "--check" in argv:
        if wanted != current:
            print(
                "README.md's headline figures are out of date with docs/: "
                "run python scripts/readme.py",
                file=sys.stderr,
            )
            return 1
        return tfdocs.update(check=True)
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
