"""A small model of how Lambda delivers one shard of a DynamoDB stream to a function.

It follows docs/aws-semantics.md#failures-retries-and-checkpoints: a batch is retried until
it succeeds or its retries run out; a function error (exception, timeout, crash) bisects the
batch when ``BisectBatchOnFunctionError`` is on (splits do not use retries; each half gets a
fresh budget: the local runtime's reading of what AWS leaves open,
docs/aws-semantics.md#where-aws-is-silent-our-choices); a partial-failure response restarts
at the lowest reported record; exhausted batches go to the failure destination, and delivery
continues after them. Used by tests to replay realistic redelivery sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.factories import Context

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Crash(BaseException):  # a process death, not an error a handler catches
    """The function died (timeout, out of memory) after whatever it already did."""


@dataclass
class Delivery:
    dlq: list[list[str]] = field(default_factory=list)  # sequence numbers per failed batch
    invocations: list[list[str]] = field(default_factory=list)


def deliver(
    handler: Handler,
    records: Sequence[dict[str, Any]],
    *,
    batch_size: int = 100,
    max_retries: int = 3,
    bisect: bool = True,
    context: Callable[[], Any] = Context,
    split: Callable[[int], int] = lambda n: n // 2,
) -> Delivery:
    out = Delivery()

    def seqs(batch: Sequence[dict[str, Any]]) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in batch]

    def run(batch: list[dict[str, Any]]) -> None:
        retries = max_retries
        while True:
            out.invocations.append(seqs(batch))
            try:
                response = handler({"Records": [dict(r) for r in batch]}, context())
            except (Exception, Crash):
                if bisect and len(batch) > 1:
                    k = split(len(batch))
                    run(batch[:k])
                    run(batch[k:])
                    return
                retries -= 1
                if retries < 0:
                    out.dlq.append(seqs(batch))
                    return
                continue
            failures = (response or {}).get("batchItemFailures") or []
            if not failures:
                return
            ids = [f.get("itemIdentifier") for f in failures]
            order = seqs(batch)
            if any(i not in order for i in ids):
                index = 0  # an identifier not in the batch: the whole batch failed
            else:
                index = min(order.index(i) for i in ids)
            batch = batch[index:]
            retries -= 1
            if retries < 0:
                out.dlq.append(seqs(batch))
                return

    records = list(records)
    for start in range(0, len(records), batch_size):
        run(records[start : start + batch_size])
    return out


def crash_after_call(client: Any, method: str, calls: Sequence[int]) -> Any:
    """Wrap a real (moto-backed) client: the listed calls of ``method`` (1-based) succeed
    and then the process 'dies' (Crash), as a timeout right after a write would."""
    return _Wrapped(client, method, set(calls), after=True)


def fail_call(client: Any, method: str, calls: Sequence[int], exc: BaseException) -> Any:
    """Wrap a real client: the listed calls of ``method`` raise ``exc`` without effect."""
    return _Wrapped(client, method, set(calls), after=False, exc=exc)


class _Wrapped:
    def __init__(
        self,
        client: Any,
        method: str,
        calls: set[int],
        after: bool,
        exc: BaseException | None = None,
    ) -> None:
        self._client = client
        self._method = method
        self._calls = calls
        self._after = after
        self._exc = exc
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name != self._method:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            hit = self.count in self._calls
            if hit and not self._after:
                assert self._exc is not None
                raise self._exc
            result = target(*args, **kwargs)
            if hit:
                raise Crash(f"crashed after {name} call {self.count}")
            return result

        return call
