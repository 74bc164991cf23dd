"""The pipeline (analytics, ETL, notification) against moto, with the accounting every
reliability test ends with: each change delivered by each processor or covered by a failure
record, no duplicate ETL line, no double count, notifications as generated."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from handlers import retry
from tests.conftest import reset_endpoint, retry_policy
from tests.pipeline_stack import aggregates, etl_lines, notifications
from tests.reliability.local_stack import Stack


@pytest.fixture(autouse=True)
def outage_retries() -> Iterator[None]:
    """Short backoffs with the default attempts bound, so outages cost milliseconds in tests
    and a batch gives up after as many attempts as it would in Lambda."""
    with retry_policy(
        retry.Policy(attempts=retry.POLICY.attempts, base=0.002, cap=0.01, reserve=0.05)
    ):
        yield


@pytest.fixture
def stack(local_endpoint: str, tmp_path: Path) -> Iterator[Stack]:
    """A fresh (reset) endpoint and the stack's clients; its runtimes closed at the end."""
    reset_endpoint(local_endpoint)
    with closing(Stack(local_endpoint, tmp_path)) as s:
        yield s


def seqs(records: Sequence[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in records]


def account(
    sinks: dict[str, Any],
    records: Sequence[dict[str, Any]],
    expected: dict[str, Any],
    dlq: Sequence[Sequence[str]] = (),
    *,
    notifications_exact: bool | None = True,
) -> dict[str, int]:
    """Assert the accounting; return its figures.

    Every change is in the ETL output exactly once or covered by a failure record (never
    both); analytics equals ``expected`` (computed by the generator, not from the sinks);
    every change not in a failure record was notified (exactly once unless a crash after
    a publish makes it at least once, which the notification contract documents)."""
    every = seqs(records)
    failed = {s for batch in dlq for s in batch}
    lines = etl_lines(sinks["s3"])
    sent = notifications(sinks["sqs"], sinks["queue"]) if notifications_exact is not None else None
    duplicates = sum(c - 1 for c in lines.values() if c > 1)
    assert duplicates == 0, f"duplicate ETL lines: {[s for s, c in lines.items() if c > 1][:5]}"
    delivered = set(lines)
    assert delivered.isdisjoint(failed), "a change both delivered and in a failure record"
    lost = [s for s in every if s not in delivered and s not in failed]
    assert not lost, f"{len(lost)} changes lost, e.g. {lost[:5]}"
    assert set(lines) <= set(every), "ETL holds a change that was never written"
    assert aggregates(sinks["ddb"]) == expected
    wanted = Counter(s for s in every if s not in failed)
    if notifications_exact is None:  # notification not in the pipeline
        assert sent is None
    elif notifications_exact:
        assert sent == wanted
    else:
        assert sent is not None
        assert set(sent) == set(wanted)
    return {"written": len(every), "delivered": len(delivered), "failed": len(failed)}
