"""The batch engine: reporting, raising to bisect, time budget, checkpoint reads and writes,
and a randomized replay proving that processors apply every record exactly once (or the
record reaches the failure destination) under Lambda's delivery rules."""

from __future__ import annotations

import io
import json
import random
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import observe
from handlers.batch import Batch, BatchFailed, Failure, Outcome, run_batch
from handlers.checkpoint import COVERED, CheckpointStore
from handlers.stream import NotAStreamEvent, StreamRecord
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.lambda_sim import Crash, deliver


class Recorder:
    """A processor that records what it applied and fails where told; with ``together``, it
    waits there for the other processors before applying anything."""

    def __init__(
        self,
        name: str,
        fail: dict[int, Failure] | None = None,
        together: threading.Barrier | None = None,
    ) -> None:
        self.name = name
        self.fail = fail or {}  # record index in the batch -> failure
        self.together = together
        self.applied: list[str] = []
        self.given: list[list[str]] = []

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        if self.together is not None:
            self.together.wait()  # BrokenBarrierError unless the others run at once
        self.given.append([r.sequence_number for r in records])
        for i, r in enumerate(records):
            if r.index in self.fail:
                return Outcome(i, self.fail[r.index], "told to fail")
            self.applied.append(r.sequence_number)
        return Outcome(len(records))


def records(n: int) -> list[dict[str, Any]]:
    return f.sequential([f.record("INSERT") for _ in range(n)])


@pytest.fixture
def store(aws_env: str) -> tuple[CheckpointStore, list[str]]:
    create_table("checkpoints")
    client = make_client("dynamodb")
    calls: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    return CheckpointStore("checkpoints", "fn", lambda: client), calls


def test_success_reports_nothing_and_reads_the_checkpoint_once(store: Any) -> None:
    st_, calls = store
    p = Recorder("a")
    recs = records(5)
    assert run_batch(f.event(recs), f.Context(), [p], st_) == {"batchItemFailures": []}
    assert p.applied == f.seqs(recs)
    assert calls == ["GetItem"]


def test_failure_in_the_middle_reports_it_and_every_later_record(store: Any) -> None:
    st_, calls = store
    first, second = Recorder("a", {3: Failure.POISON}), Recorder("b")
    recs = records(6)
    response = run_batch(f.event(recs), f.Context(), [first, second], st_, concurrent=False)
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in f.seqs(recs)[3:]]}
    assert second.given == [f.seqs(recs)[:3]]  # one after another: b stops at a's failure
    assert calls == ["GetItem"]  # nobody went past the failure: nothing to record


def test_a_processor_failing_while_the_others_succeed_runs_concurrently(store: Any) -> None:
    """The pipeline runs its processors at once: both are inside ``process`` together (the
    barrier), ``b`` applies every record while ``a`` fails at record 3. The response reports
    the lowest failure; b's progress past it is recorded where the redelivery starts, so the
    redelivery skips it for b and a carries on: each record applied once by each."""
    st_, calls = store
    together = threading.Barrier(2, timeout=10)
    first = Recorder("a", {3: Failure.TRANSIENT}, together)
    second = Recorder("b", None, together)
    recs = records(6)
    response = run_batch(f.event(recs), f.Context(), [first, second], st_)
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in f.seqs(recs)[3:]]}
    assert second.applied == f.seqs(recs) and first.applied == f.seqs(recs)[:3]
    assert calls == ["GetItem", "UpdateItem"]
    assert st_.load(f.STREAM_ARN, f.seqs(recs)[3]) == {"b": int(f.seqs(recs)[5])}
    first.fail, first.together, second.together = {}, None, None
    assert run_batch(f.event(recs[3:]), f.Context(), [first, second], st_) == {
        "batchItemFailures": []
    }
    assert first.applied == f.seqs(recs) and second.applied == f.seqs(recs)


def test_lowest_failure_across_concurrent_processors_is_reported(store: Any) -> None:
    st_, _ = store
    procs = [
        Recorder("a", {4: Failure.TRANSIENT}),
        Recorder("b", {2: Failure.TRANSIENT}),
        Recorder("c"),
    ]
    recs = records(6)
    response = run_batch(f.event(recs), f.Context(), procs, st_)
    assert [x["itemIdentifier"] for x in response["batchItemFailures"]] == f.seqs(recs)[2:]
    # a and c went past record 2: both recorded there, b (the failing one) is not
    assert st_.load(f.STREAM_ARN, f.seqs(recs)[2]) == {
        "a": int(f.seqs(recs)[3]),
        "c": int(f.seqs(recs)[5]),
    }


def test_a_processor_raising_records_the_others_progress_then_raises(store: Any) -> None:
    """An unexpected error of one processor fails the invocation (Lambda retries and
    bisects); what the others applied meanwhile is recorded at the batch start and both
    split points, so no redelivery repeats it."""
    st_, _ = store

    class Broken(Recorder):
        def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
            raise RuntimeError("a bug")

    other = Recorder("b")
    recs = records(5)
    with pytest.raises(RuntimeError, match="a bug"):
        run_batch(f.event(recs), f.Context(), [Broken("a"), other], st_)
    assert other.applied == f.seqs(recs)
    for index in (0, 2, 3):
        assert st_.load(f.STREAM_ARN, f.seqs(recs)[index]) == {"b": int(f.seqs(recs)[4])}


def test_progress_past_the_failure_is_recorded_where_the_redelivery_starts(store: Any) -> None:
    st_, calls = store
    first, second = Recorder("a"), Recorder("b", {2: Failure.TRANSIENT})
    recs = records(6)
    run_batch(f.event(recs), f.Context(), [first, second], st_)
    assert calls == ["GetItem", "UpdateItem"]
    assert st_.load(f.STREAM_ARN, f.seqs(recs)[2]) == {"a": int(f.seqs(recs)[5])}
    # The redelivery from the failed record: "a" skips what it did, "b" carries on.
    first.applied.clear()
    second.fail = {}
    again = recs[2:]
    assert run_batch(f.event(again), f.Context(), [first, second], st_)["batchItemFailures"] == []
    assert first.applied == []
    assert second.applied == f.seqs(recs)


@pytest.mark.parametrize("failure", [Failure.POISON, Failure.TIME])
def test_first_record_failing_raises_so_lambda_bisects(store: Any, failure: Failure) -> None:
    st_, _ = store
    first, second = Recorder("a"), Recorder("b", {0: failure})
    recs = records(7)
    with pytest.raises(BatchFailed, match="bisect"):
        run_batch(f.event(recs), f.Context(), [first, second], st_)
    # Entries at the batch start and both candidate split points carry a's progress.
    for index in (0, 3, 4):
        assert st_.load(f.STREAM_ARN, f.seqs(recs)[index]) == {"a": int(f.seqs(recs)[6])}


def test_transient_failure_of_the_first_record_is_reported_not_raised(store: Any) -> None:
    st_, _ = store
    recs = records(4)
    response = run_batch(f.event(recs), f.Context(), [Recorder("a", {0: Failure.TRANSIENT})], st_)
    assert len(response["batchItemFailures"]) == 4


def test_a_record_without_sequence_number_fails_the_batch_before_any_side_effect() -> None:
    recs = records(3)
    del recs[1]["dynamodb"]["SequenceNumber"]
    p = Recorder("a")
    with pytest.raises(BatchFailed, match=r"record 1 .*SequenceNumber"):
        run_batch(f.event(recs), f.Context(), [p], None)
    assert p.given == []


def test_non_stream_events_raise_a_clear_error() -> None:
    with pytest.raises(NotAStreamEvent, match="Records"):
        run_batch({"body": "{}", "httpMethod": "GET"}, f.Context(), [Recorder("a")], None)
    sqs = {"Records": [{"eventSource": "aws:sqs", "body": "x", "messageId": "1"}]}
    with pytest.raises(NotAStreamEvent, match="aws:sqs"):
        run_batch(sqs, f.Context(), [Recorder("a")], None)


def test_empty_batch() -> None:
    assert run_batch({"Records": []}, f.Context(), [Recorder("a")], None) == {
        "batchItemFailures": []
    }


def test_tumbling_window_responses_carry_state() -> None:
    event = {
        "Records": records(2),
        "window": {"start": "a", "end": "b"},
        "state": {"x": 1},
        "shardId": "s",
        "isFinalInvokeForWindow": False,
    }
    response = run_batch(event, f.Context(), [Recorder("a")], None)
    assert response == {"batchItemFailures": [], "state": {}}


def test_tumbling_window_state_of_processors_running_at_once() -> None:
    """A window invocation through a pipeline whose processors run at once (they meet at
    the barrier): the state each one keeps reaches the response."""

    class Counting(Recorder):
        def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
            outcome = super().process(records, batch)
            before = batch.state.get(self.name, 0)
            batch.new_state[self.name] = before + len(records)
            return outcome

    together = threading.Barrier(2, timeout=10)
    event = {
        "Records": records(3),
        "window": {"start": "a", "end": "b"},
        "state": {"a": 4, "b": 1},
        "shardId": "s",
        "isFinalInvokeForWindow": False,
    }
    procs = [Counting("a", None, together), Counting("b", None, together)]
    response = run_batch(event, f.Context(), procs, None)
    assert response == {"batchItemFailures": [], "state": {"a": 7, "b": 4}}


def test_logs_and_emf_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(observe, "_stream", out)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    recs = records(4)
    recs[1]["eventName"] = "MODIFY"
    run_batch(f.event(recs), f.Context(), [Recorder("a", {2: Failure.POISON})], None)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    failed = [x for x in lines if x.get("message") == "record failed"]
    assert failed[0]["sequence_number"] == f.seqs(recs)[2] and failed[0]["reason"] == "told to fail"
    summary = next(x for x in lines if x.get("message") == "batch processed")
    assert summary["records"] == 4 and summary["failed"] == 2
    emf = next(x for x in lines if "_aws" in x)
    assert emf["Function"] == "fn" and emf["Processor"] == "a"
    assert emf["RecordsProcessed"] == 2 and emf["RecordsFailed"] == 2
    assert emf["InsertRecords"] == 1 and emf["ModifyRecords"] == 1
    assert emf["IteratorLagMs"] > 0
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"RecordsProcessed", "RecordsFailed", "IteratorLagMs"} <= names


class Flaky:
    """Fails records at random (each attempt), or crashes after applying some."""

    def __init__(self, name: str, rng: random.Random, poison: set[str]) -> None:
        self.name, self.rng, self.poison = name, rng, poison
        self.applied: Counter[str] = Counter()

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        for i, r in enumerate(records):
            if r.sequence_number in self.poison:
                return Outcome(i, Failure.POISON, "poison")
            roll = self.rng.random()
            if roll < 0.04:
                return Outcome(i, Failure.TRANSIENT, "flaky")
            self.applied[r.sequence_number] += 1
            if roll > 0.995:
                raise Crash("died after applying")
        return Outcome(len(records))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), size=st.integers(1, 40), n=st.integers(1, 80))
def test_every_record_applied_exactly_once_or_reported(
    aws_env: str, seed: int, size: int, n: int
) -> None:
    """Randomized: several processors, random transient failures, poison records and
    crashes after side effects; Lambda's rules replayed. Afterwards each record was applied
    by each processor exactly once, unless it reached the failure destination, where a
    processor may have applied it at most once. Crashes after a side effect of the record
    being processed can repeat that one record (the stated bound for a hard crash)."""
    client = make_client("dynamodb")
    try:
        client.delete_table(TableName="checkpoints")
    except client.exceptions.ResourceNotFoundException:
        pass
    create_table("checkpoints")
    store = CheckpointStore("checkpoints", f"fn{seed}", lambda: client)
    rng = random.Random(seed)
    recs = records(n)
    poison = {s for s in f.seqs(recs) if rng.random() < 0.03}
    procs = [Flaky(name, rng, poison) for name in ("a", "b", "c")]
    crashes: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return run_batch(event, context, procs, store)
        except Crash:
            crashes.append("x")
            raise

    result = deliver(handler, recs, batch_size=size, max_retries=50)
    in_dlq = {s for batch in result.dlq for s in batch}
    assert poison <= in_dlq
    for p in procs:
        for s in f.seqs(recs):
            if s in in_dlq:
                assert p.applied[s] <= 1 + len(crashes)
            else:
                # Applied at least once (nothing lost); more only through a hard crash.
                assert 1 <= p.applied[s] <= 1 + len(crashes), (p.name, s)
    if not crashes:
        for p in procs:
            assert all(p.applied[s] == 1 for s in f.seqs(recs) if s not in in_dlq)


def test_a_non_finite_creation_time_does_not_crash_the_report() -> None:
    recs = records(2)
    recs[1]["dynamodb"]["ApproximateCreationDateTime"] = float("inf")
    response = run_batch(f.event(recs), f.Context(), [Recorder("a")], None)
    assert response == {"batchItemFailures": []}


def test_failed_records_are_charged_to_the_processor_that_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per-processor RecordsFailed alarms: only the processor whose failure cut the batch
    counts the reported records; the one that applied everything reports none."""
    out = io.StringIO()
    monkeypatch.setattr(observe, "_stream", out)
    run_batch(
        f.event(records(4)),
        f.Context(),
        [Recorder("a"), Recorder("b", {1: Failure.TRANSIENT})],
        None,
    )
    emf = {x["Processor"]: x for x in map(json.loads, out.getvalue().splitlines()) if "_aws" in x}
    assert emf["a"]["RecordsFailed"] == 0 and emf["a"]["RecordsProcessed"] == 4
    assert emf["b"]["RecordsFailed"] == 3 and emf["b"]["RecordsProcessed"] == 1


def test_progress_past_a_failure_reaches_every_later_bisected_half(store: Any) -> None:
    """Found by the soak (issue 17): "b" fails at record 10 of 20 while "a" applied all 20;
    the progress is recorded at record 10, where Lambda redelivers. That redelivery dies
    before its first write lands; Lambda bisects it: the first half (10-14) starts at
    record 10 and writes entries at its own bisect points, the second half starts at record
    15, which no entry named, and "a" applied 15-19 again (ETL lines and notifications in
    the soak). The entry at record 10 now lists the records its progress covers."""
    st_, _ = store
    a, b = Recorder("a"), Recorder("b", {10: Failure.TRANSIENT})
    recs = records(20)
    response = run_batch(f.event(recs), f.Context(), [a, b], st_)
    assert response["batchItemFailures"][0] == {"itemIdentifier": f.seqs(recs)[10]}
    # the redelivery of 10-19 died before writing anything; then its two halves
    b.fail = {}
    for half in (recs[10:15], recs[15:20]):
        assert run_batch(f.event(half), f.Context(), [a, b], st_)["batchItemFailures"] == []
    assert a.applied == f.seqs(recs)  # each record once
    assert b.applied == f.seqs(recs)


def test_an_entry_written_by_0_2_0_still_protects_what_it_covered(store: Any) -> None:
    """0.2.0 wrote ``covered`` as comma-separated decimal sequence numbers; its items live
    two days (TTL), so a redelivery starting at such an entry still writes the progress at
    every record it lists."""
    st_, _ = store
    recs = records(20)
    st_.save(f.STREAM_ARN, {f.seqs(recs)[10]: {"a": int(f.seqs(recs)[19])}})
    key = st_.key(f.STREAM_ARN, f.seqs(recs)[10])
    client = st_._client()
    client.update_item(
        TableName="checkpoints",
        Key=key,
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": COVERED},
        ExpressionAttributeValues={":c": {"S": ",".join(f.seqs(recs)[11:])}},
    )
    a = Recorder("a")
    # the redelivery of 10-19 dies in "a" after its up-front writes...
    with pytest.raises(Crash):
        run_batch(f.event(recs[10:]), f.Context(), [a, Dies()], st_)
    # ...and each later record Lambda may start a bisected half at now has its entry
    assert all(st_.load(f.STREAM_ARN, s) == {"a": int(f.seqs(recs)[19])} for s in f.seqs(recs)[11:])
    assert a.applied == []


class Dies:
    name = "dies"

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        raise Crash("the invocation died")


def test_a_batch_whose_covered_list_cannot_fit_an_item_is_refused_first(store: Any) -> None:
    """DynamoDB sequence numbers have up to 40 digits: 4,000 records 2e35 apart make a list
    of covered records of about 124 KB, which an entry cannot hold beside a commit plan in
    DynamoDB's 400 KB item. The batch is refused before any processor applies anything,
    naming the batch size and what to lower (with bisect on, Lambda's halves fit)."""
    st_, _ = store
    recs = f.sequential([f.record("INSERT") for _ in range(4_000)], start=10**39)
    recs = [
        {**r, "dynamodb": {**r["dynamodb"], "SequenceNumber": str(10**39 + i * 2 * 10**35)}}
        for i, r in enumerate(recs)
    ]
    a = Recorder("a")
    with pytest.raises(BatchFailed, match=r"batch of 4000 records.*BatchSize.*batch_size"):
        run_batch(f.event(recs), f.Context(), [a], st_)
    assert a.given == []
    out = deliver(lambda e, c: run_batch(e, c, [a], st_), recs, batch_size=4_000)
    assert out.dlq == [] and a.applied == f.seqs(recs)
