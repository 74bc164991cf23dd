"""`make demo` reads at 100 columns: its text is wrapped at spaces (a long path after a `/`),
never inside a word, and long data lines are cut at a word boundary with a marker."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
REASON = (
    "error: BatchFailed etl: the first record of the batch failed (NewImage.salary_expectation: "
    "N (a str of 42 characters) is outside DynamoDB's number range (38 significant digits, "
    "magnitude 1E-130 to 9.99E+125))"
)
KEY = (
    "dlq-archive/ex-complete-pipeline/shardId-00000001796458826520-0053eefc/"
    "1796458826520489750168-1796458826520489750168.jsonl.gz: failed (1 records)"
)


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrapped_text_fits_and_keeps_every_word() -> None:
    demo = _demo()
    for text in (REASON, KEY, f"08:21:29 ex-complete-pipeline   53eefc    1 rec {REASON}"):
        lines = demo.wrap(text, indent="", cont=" " * 9).splitlines()
        assert len(lines) > 1 and all(len(line) <= demo.WIDTH for line in lines)
        assert " ".join(line.strip() for line in lines).replace("/ ", "/") == text


def test_clipped_lines_end_at_a_word_boundary() -> None:
    demo = _demo()
    line = '08:21:26 INSERT {"application_id": "app-001"} new {"application_id": "app-001", ' * 2
    clipped = demo.clip(line)
    assert len(clipped) <= demo.WIDTH and clipped.endswith(" ...")
    kept = clipped[: -len(" ...")]
    assert line.startswith(kept) and (kept.endswith(",") or line[len(kept)] == " ")
