"""Delivery cases of the corpus (``cases/delivery``: how an event source mapping hands a
shard's records to a function) run on the local runtime's shard poller (``ddbt.poller``),
fed by a stand-in stream that holds the case's writes and a function that answers as the case
says. Every invocation is traced on one logical clock (a counter: no wall-clock time), and
the trace is checked against the case:

* ``in_order_per_key``: every record is processed once (or given up on), and an invocation
  holding a record also holds, before it, every earlier record of its key not yet done: no
  later record of a key overtakes an earlier one, not even while that one fails and is retried;
* ``concurrent``: batches of the shard ran at the same time (the first invocation waits for a
  second one to start, so they overlap for sure when the poller runs them concurrently);
* ``max_in_flight``: never more invocations of the shard at once;
* ``attempts``: how many invocations held a write;
* ``destination``: the writes of each failure record, exactly; ``destination_from``: the first
  write of each failure record, whose records are then the rest of the failed batch from it,
  with ``batchSize`` counting them and other keys' records in its range processed elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session

from ddbt.checkpoint import MemoryCheckpointStore
from ddbt.engine import Failure, InvokeResult
from ddbt.model import MappingSettings
from ddbt.poller import PollerOptions, ShardPoller
from tests.conformance.corpus import Case, params
from tests.factories import getrecords_record

STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
SHARD = "shardId-00000001767225600000-0000abcd"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:f"
BASE = 10**21  # the sequence number of write 0 (tests.factories.getrecords_record)


def _seq(write: int) -> str:
    return str(BASE + write)


def _write(seq: str) -> int:
    return int(seq) - BASE


class Stream:
    """One shard holding the case's writes (write ``i``: an INSERT of item ``key``, sequence
    number ``BASE + i``, written now), read in one page; then the shard has ended."""

    def __init__(self, keys: Sequence[str]) -> None:
        now = datetime.now(UTC)
        self.records = [getrecords_record(i, key=key, created=now) for i, key in enumerate(keys)]

    def get_shard_iterator(self, **_: Any) -> dict[str, str]:
        return {"ShardIterator": "start"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        return {"Records": self.records}  # no NextShardIterator: the shard ended


@dataclass
class Call:
    writes: list[int]
    start: int  # logical clock
    end: int = 0
    done: list[int] = field(default_factory=list)  # writes processed by this invocation


@dataclass
class Trace:
    keys: list[str]
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    given_up: dict[int, int] = field(default_factory=dict)  # write -> clock
    most: int = 0  # invocations in flight at once, as the function saw them


class Function:
    """The case's function: fails the invocations holding ``fails.write`` (raising, or
    reporting it in ``batchItemFailures``) the first ``times`` times (null: always);
    succeeds otherwise. With ``wait_for_company`` the first invocation waits until a second
    one has started (or 10 s passed)."""

    def __init__(self, case: Case, trace: Trace) -> None:
        self.fails = (case.get("function") or {}).get("fails")
        self.trace = trace
        self.lock = threading.Lock()
        self.clock = 0
        self.now = 0
        self.failed = 0
        self.company = threading.Event()
        self.wait_for_company = bool(case["expect"].get("concurrent"))

    def tick(self) -> int:
        with self.lock:
            self.clock += 1
            return self.clock

    def __call__(self, event: dict[str, Any]) -> InvokeResult:
        writes = [_write(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]
        with self.lock:
            self.clock += 1
            call = Call(writes, self.clock)
            self.trace.calls.append(call)
            self.now += 1
            self.trace.most = max(self.trace.most, self.now)
            first = len(self.trace.calls) == 1
            if self.now > 1:
                self.company.set()
        if first and self.wait_for_company:
            self.company.wait(10)
        result, done = self._answer(writes)
        with self.lock:
            self.clock += 1
            call.end, call.done = self.clock, done
            self.now -= 1
        return result

    def _answer(self, writes: list[int]) -> tuple[InvokeResult, list[int]]:
        fails = self.fails
        if not fails or fails["write"] not in writes:
            return InvokeResult("ok", payload={}), writes
        with self.lock:
            if fails["times"] is not None and self.failed >= fails["times"]:
                return InvokeResult("ok", payload={}), writes
            self.failed += 1
        if fails["as"] == "error":
            return InvokeResult("error", error_type="Error", error_message="poison"), []
        index = writes.index(fails["write"])
        payload = {"batchItemFailures": [{"itemIdentifier": _seq(fails["write"])}]}
        return InvokeResult("ok", payload=payload), writes[:index]


def _settings(case: Case) -> MappingSettings:
    s = case["settings"]
    return MappingSettings(
        uuid="6f1c1b7e-1111-4222-8333-944455556666",
        function_arn=FUNCTION,
        stream_arn=STREAM,
        starting_position="TRIM_HORIZON",
        batch_size=int(s.get("BatchSize", 100)),
        parallelization_factor=int(s.get("ParallelizationFactor", 1)),
        bisect=bool(s.get("BisectBatchOnFunctionError", False)),
        max_retries=int(s.get("MaximumRetryAttempts", -1)),
        report_item_failures="ReportBatchItemFailures" in s.get("FunctionResponseTypes", []),
        destination_arn="arn:aws:sqs:eu-west-1:123456789012:dlq",
    )


def run(case: Case) -> Trace:
    """The case's writes through a shard poller with the case's settings and function."""
    trace = Trace(list(case["writes"]))
    function = Function(case, trace)

    def on_failure(failure: Failure) -> None:
        at = function.tick()
        trace.failures.append(failure)
        for rec in failure.records:
            trace.given_up[_write(rec.seq)] = at

    poller = ShardPoller(
        _settings(case),
        SHARD,
        streams=Stream(trace.keys),
        invoke=function,
        on_failure=on_failure,
        store=MemoryCheckpointStore(),
        hash_key="pk",
        options=PollerOptions(poll_interval=0.01, retry_delay=0),
        initial=True,
        log=lambda line: None,
    )
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while not poller.finished:
            assert time.monotonic() < deadline, f"not delivered: {trace.calls[-5:]}"
            time.sleep(0.01)
    finally:
        poller.stop(5)
    # The runtime's own count (what its report shows) sees at least what the function saw.
    assert trace.most <= poller.max_in_flight <= len(poller.lanes)
    return trace


def check_order_per_key(trace: Trace) -> None:
    """Every write processed exactly once or given up on (not both), and no invocation holds
    a record of a key without every earlier record of that key that was not done yet."""
    done_at: dict[int, int] = {}
    for call in trace.calls:
        for w in call.done:
            assert w not in done_at, f"write {w} processed twice"
            done_at[w] = call.end
    assert set(done_at).isdisjoint(trace.given_up), "processed and given up"
    finished = {**done_at, **trace.given_up}
    assert sorted(finished) == list(range(len(trace.keys))), "a write was lost"
    for call in trace.calls:
        held = set(call.writes)
        for w in call.writes:
            for earlier in range(w):
                if trace.keys[earlier] != trace.keys[w] or earlier in held:
                    continue
                assert finished[earlier] < call.start, (
                    f"write {w} ({trace.keys[w]}) delivered while the earlier write {earlier} "
                    "of its key was not done"
                )
        assert call.writes == sorted(call.writes), "a batch out of stream order"


@params("delivery", has="writes")
def test_the_poller_delivers_as_the_case_says(case: Case) -> None:
    trace = run(case)
    expect = case["expect"]
    factor = int(case["settings"].get("ParallelizationFactor", 1))
    if expect.get("in_order_per_key"):
        check_order_per_key(trace)
    assert trace.most <= expect.get("max_in_flight", factor) <= factor
    if expect.get("concurrent"):
        assert trace.most > 1, "the shard's batches never ran at the same time"
    for write, count in (expect.get("attempts") or {}).items():
        assert sum(int(write) in c.writes for c in trace.calls) == count, write
    if "destination" in expect:
        got = [[_write(r.seq) for r in f.records] for f in trace.failures]
        assert got == expect["destination"]
    if "destination_from" in expect:
        starts = expect["destination_from"]
        assert len(trace.failures) == len(starts)
        for failure, first in zip(trace.failures, starts, strict=True):
            _check_failed_batch(trace, failure, first)


def _check_failed_batch(trace: Trace, failure: Failure, first: int) -> None:
    """A failure record after a partial failure: from the reported write to the end of the
    failed batch, that batch's records only; its range holds other keys' records, which other
    invocations processed."""
    writes = [_write(r.seq) for r in failure.records]
    last_call = [c for c in trace.calls if first in c.writes][-1]
    assert writes == last_call.writes[last_call.writes.index(first) :]
    info = failure.message()["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == _seq(first)
    assert info["endSequenceNumber"] == _seq(writes[-1])
    assert info["batchSize"] == len(writes)
    others = [w for w in range(first, writes[-1] + 1) if w not in writes]
    assert others, "the case should interleave other keys in the failed batch's range"
    processed = {w for c in trace.calls for w in c.done}
    assert set(others) <= processed


@params("delivery", has="setting")
def test_the_setting_is_the_service_models(case: Case) -> None:
    model = botocore.session.get_session().get_service_model("lambda")
    shape = model.shape_for(case["setting"])
    assert (shape.metadata["min"], shape.metadata["max"]) == (
        case["expect"]["min"],
        case["expect"]["max"],
    )
    assert case["settings"][case["setting"]] == case["expect"]["max"]
