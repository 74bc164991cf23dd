"""Fail when an inline checkov skip has no written reason.

Checkov accepts ``#checkov:skip=CKV_AWS_18`` without a reason and then reports the check as
skipped; this project requires ``#checkov:skip=<ID>:<why the check does not apply>``.

usage: checkov_skips.py <dir>...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SKIP = re.compile(r"checkov:skip=([A-Z0-9_]*)(?::(.*))?")
MIN_REASON = 15


def problems(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.tf")):
        if any(part.startswith(".") or part == "build" for part in path.relative_to(root).parts):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in SKIP.finditer(line):
                check, reason = match.group(1), (match.group(2) or "").strip()
                if not check:
                    found.append(f"{path}:{number}: checkov skip without a check ID")
                elif len(reason) < MIN_REASON:
                    found.append(f"{path}:{number}: skip of {check} has no written reason")
    return found


def main(argv: list[str]) -> int:
    found = [p for arg in argv or ["."] for p in problems(Path(arg))]
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
