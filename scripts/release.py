"""The version, written once (pyproject.toml), and everything that must agree with it.

    python scripts/release.py check   exit 1 when something disagrees with the version (make lint)
    python scripts/release.py tag     check, then tag HEAD vX.Y.Z (annotated)     (make tag)

Agreement: CHANGELOG.md's first release heading is ``## [X.Y.Z] - YYYY-MM-DD``; every module
snippet in README.md and docs/*.md that takes the module from git names ``?ref=vX.Y.Z``.
``ddbt --version`` reads the installed package's metadata, which pyproject.toml writes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

__all__ = ["TAG_PREFIX", "changelog_release", "main", "problems", "snippets", "tag", "version"]

ROOT = Path(__file__).resolve().parents[1]
TAG_PREFIX = "v"
_RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})\s*$", re.M)
_FENCE = re.compile(r"^```hcl\n(.*?)^```", re.M | re.S)
_GIT_SOURCE = re.compile(r'^\s*source\s*=\s*"git::(?P<url>[^"?]+)\?ref=(?P<ref>[^"&]+)"', re.M)


def version(root: Path = ROOT) -> str:
    """The project's version: ``[project] version`` of pyproject.toml."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def changelog_release(root: Path = ROOT) -> tuple[str, str] | None:
    """(version, date) of CHANGELOG.md's newest release heading (None without one)."""
    found = _RELEASE.search((root / "CHANGELOG.md").read_text())
    return (found["version"], found["date"]) if found else None


def snippets(root: Path = ROOT) -> list[tuple[Path, str]]:
    """Every ``hcl`` block of README.md and docs/*.md that takes the module from git."""
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [
        (page, block)
        for page in pages
        for block in _FENCE.findall(page.read_text())
        if _GIT_SOURCE.search(block)
    ]


def git_source(block: str) -> tuple[str, str]:
    """(URL, ref) of a snippet's ``source = "git::URL?ref=REF"``."""
    found = _GIT_SOURCE.search(block)
    if found is None:
        raise ValueError("the snippet takes no module from git")
    return found["url"], found["ref"]


def problems(root: Path = ROOT) -> list[str]:
    """What disagrees with the version (empty when everything agrees)."""
    wanted = version(root)
    out: list[str] = []
    release = changelog_release(root)
    if release is None:
        out.append("CHANGELOG.md has no release heading (## [X.Y.Z] - YYYY-MM-DD)")
    elif release[0] != wanted:
        out.append(f"CHANGELOG.md's newest release is {release[0]}, pyproject.toml says {wanted}")
    found = snippets(root)
    if not any(page.name == "README.md" for page, _ in found):
        out.append('README.md shows no module snippet with source = "git::...?ref=..."')
    for page, block in found:
        ref = git_source(block)[1]
        if ref != TAG_PREFIX + wanted:
            out.append(
                f"{page.relative_to(root)}: the snippet's ref={ref}, not {TAG_PREFIX}{wanted}"
            )
    return out


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"release: git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def tag(root: Path = ROOT) -> str:
    """Tag HEAD ``vX.Y.Z`` (annotated) once everything agrees and the tree is clean."""
    found = problems(root)
    if found:
        raise SystemExit("release: " + "; ".join(found))
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise SystemExit("release: commit your changes first (the tag names a commit)")
    name = TAG_PREFIX + version(root)
    if _git(root, "tag", "--list", name).strip():
        raise SystemExit(f"release: {name} exists; raise the version in pyproject.toml")
    _git(root, "tag", "-a", name, "-m", f"dynamodb-triggers {version(root)}")
    return name


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "check":
        found = problems()
        for line in found:
            print(f"release: {line}", file=sys.stderr)
        return 1 if found else 0
    if command == "tag":
        name = tag()
        print(f"tagged {name}; publish it with: git push origin {name}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
