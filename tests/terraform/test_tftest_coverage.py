"""Every validation block of variables.tf has an expect_failures case in tests/*.tftest.hcl
(tests/validations.tftest.hcl, and the test file of the feature the input belongs to), and every
cross-input check resource is exercised."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _validation_blocks() -> Counter[str]:
    text = (ROOT / "variables.tf").read_text()
    counts: Counter[str] = Counter()
    for match in re.finditer(r'^variable "(\w+)" \{\n(.*?)^\}', text, re.M | re.S):
        counts[match.group(1)] = match.group(2).count("validation {")
    return +counts


def _expected_failures(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for block in re.findall(r"expect_failures = \[(.*?)\]", path.read_text(), re.S):
        counts.update(re.findall(r"\b(?:var|terraform_data)\.(\w+)", block))
    return counts


def test_every_validation_block_has_a_failing_case() -> None:
    blocks = _validation_blocks()
    cases: Counter[str] = Counter()
    for path in (ROOT / "tests").glob("*.tftest.hcl"):
        cases.update(_expected_failures(path))
    assert len(blocks) > 50
    missing = {name: n - cases[name] for name, n in blocks.items() if cases[name] < n}
    assert missing == {}, "variables with fewer expect_failures cases than validation blocks"


def test_every_check_resource_is_exercised() -> None:
    main = "".join(p.read_text() for p in ROOT.glob("*.tf"))
    checks = set(re.findall(r'resource "terraform_data" "(check_\w+|stream_change_check)"', main))
    exercised: Counter[str] = Counter()
    for path in (ROOT / "tests").glob("*.tftest.hcl"):
        exercised.update(_expected_failures(path))
    assert checks, "no check resources found"
    assert sorted(c for c in checks if not exercised[c]) == []
