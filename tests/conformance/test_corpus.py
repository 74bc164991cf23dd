"""The corpus files themselves: every case names a public source and states its facts."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.conformance.corpus import KINDS, ROOT, SOURCE_KINDS, all_cases


def test_every_file_is_in_a_known_kind_folder() -> None:
    for path in ROOT.rglob("*.json"):
        assert path.parent.parent == ROOT and path.parent.name in KINDS, path
        document = json.loads(path.read_text())
        assert set(document) == {"source", "cases"}, f"{path}: only 'source' and 'cases'"
        assert document["cases"], f"{path}: no cases"


@pytest.mark.parametrize("case", all_cases(), ids=[c.name for c in all_cases()])
def test_case_names_a_public_source_and_its_facts(case: object) -> None:
    from tests.conformance.corpus import Case

    assert isinstance(case, Case)
    assert case.source["url"].startswith("https://"), case.name
    assert case.source["title"].strip(), case.name
    assert case.source["kind"] in SOURCE_KINDS, case.name
    assert case.facts and all(isinstance(f, str) and f.strip() for f in case.facts), case.name
    for extra in case.see_also:
        assert extra["url"].startswith("https://") and extra["title"].strip(), case.name
        assert extra["kind"] in SOURCE_KINDS, case.name


def test_case_ids_are_unique() -> None:
    counts = Counter(c.name for c in all_cases())
    assert not [n for n, k in counts.items() if k > 1]


def test_the_corpus_is_not_empty() -> None:
    assert all_cases()
