"""Every relative link of the README, CHANGELOG.md, docs/ and the examples' READMEs points at a
file that exists, and an ``#anchor`` at a heading (GitHub's slug) or ``<a name>`` of that page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").glob("*/README.md"),
    ]
)
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")
_NAME = re.compile(r'<a name="([^"]+)"')


def _unfenced(text: str) -> str:
    """``text`` without fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", _unfenced(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a markdown page: heading slugs (repeats numbered) and ``<a name>``s."""
    text = page.read_text()
    found: set[str] = set(_NAME.findall(text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", _unfenced(text), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(page: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_prose(page.read_text()))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    ]


def broken(page: Path) -> list[str]:
    out = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            out.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            out.append(f"{target}: no heading or anchor #{anchor} in {resolved.name}")
    return out


def test_the_slug_is_githubs() -> None:
    assert slug("Archiver: keep failed records past the stream's 24 hours") == (
        "archiver-keep-failed-records-past-the-streams-24-hours"
    )
    assert slug("What the tests prove (`make test`)") == "what-the-tests-prove-make-test"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Part one\n\n[ok](#part-one) [ok](b.md#x)\n")
    (tmp_path / "b.md").write_text('<a name="x"></a>\n')
    assert broken(tmp_path / "a.md") == []
    (tmp_path / "c.md").write_text(
        "[gone](nowhere.md) [wrong](a.md#part-two) `[code](x.md)` ![img](https://x/y.png)\n"
    )
    assert broken(tmp_path / "c.md") == [
        "nowhere.md: no such file",
        "a.md#part-two: no heading or anchor #part-two in a.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []
