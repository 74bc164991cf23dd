"""The runtime's live lines read at 100 columns: the fixed part fits, an error's reason is
printed whole (never cut mid-word) once, and "as before" while retries fail the same way."""

from __future__ import annotations

import io

from ddbt.local.engine import Attempt, InvokeResult
from ddbt.local.model import Rec
from ddbt.local.report import Report

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:ex-complete-pipeline"
SHARD = "shardId-00000001796458826520-0053eefc"
REASON = (
    "etl: the first record of the batch failed (NewImage.salary_expectation: N (a str of 42 "
    "characters) is outside DynamoDB's number range (38 significant digits, magnitude 1E-130 "
    "to 9.99E+125))"
)


def _records(n: int) -> list[Rec]:
    return [Rec(f"17964588265204897501{40 + i}", "k", 0.0, 1, {}) for i in range(n)]


def _lines(*attempts: Attempt) -> list[str]:
    out = io.StringIO()
    report = Report(out=out, clock=lambda: 2.0)
    for attempt in attempts:
        report.attempt("mapping-1", FUNCTION, SHARD, attempt)
    return out.getvalue().splitlines()


def test_an_error_reason_is_whole_once_then_as_before() -> None:
    error = InvokeResult("error", error_type="BatchFailed", error_message=REASON)
    other = InvokeResult("error", error_type="BatchFailed", error_message="another reason")
    one = _records(1)
    lines = _lines(
        Attempt(one, error, "error"),
        Attempt(one, error, "error"),
        Attempt(one, other, "error"),
        Attempt(one, error, "error"),
    )
    assert lines[0].endswith(f"error: BatchFailed {REASON}")
    assert lines[1].endswith("error: as before")
    assert lines[2].endswith("error: BatchFailed another reason")
    assert lines[3].endswith(f"error: BatchFailed {REASON}")


def test_ok_and_partial_lines_fit_100_columns() -> None:
    ok = InvokeResult("ok", duration=1.758)
    lines = _lines(
        Attempt(_records(15), ok, "ok"),
        Attempt(_records(14), ok, "partial", failed_from=13),
        Attempt(_records(1), InvokeResult("error"), "error"),
    )
    head = "ex-complete-pipeline   53eefc   15 rec 50140..50154 "
    assert lines[0].split(" ", 1)[1].startswith(head)
    assert lines[1].endswith("partial: 1 to retry")
    assert all(len(line) <= 100 for line in lines), [len(line) for line in lines]
