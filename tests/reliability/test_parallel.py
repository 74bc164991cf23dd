"""A shard's batches run in parallel (ParallelizationFactor 4, and 10 where it matters) and
fail: the real pipeline (build/handlers.zip: analytics, ETL, view, replicate) on the local
runtime, its functions reaching the endpoint through the fault-injecting proxy.

Every test first makes sure that batches of the shard really overlap: the first two
invocations' opening calls (the checkpoint read) are held at a barrier until both are in
flight, and the runtime's report must show more than one invocation of the shard in flight at
once. Then one failure while the neighbours go on: a partial failure in one of the concurrent
batches; a poison record that is bisected down while the other batches keep going; a function
killed at its timeout after its sinks were written, then redelivered; throttling and
transaction conflicts on the aggregates every lane shares. Each ends with the accounting:

* ETL: every change once, in order per key (changes in the failure destination excepted);
* analytics: exactly the counts of the changes written;
* view and replica: equal to the source table's final state (``ddbt verify-replica``'s
  comparison);
* the failure destination: exactly the poison records.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ddbt.local.runtime import Runtime
from ddbt.ops.verify import verify
from tests.reliability.local_stack import TABLE, ZIP, Stack, Writer, check_etl
from tests.reliability.proxy import (
    DDB_JSON,
    Proxy,
    Request,
    Rule,
    ddb_op,
    ddb_throttling,
    ddb_transaction_conflict,
    s3_put,
    s3_slowdown,
)

pytestmark = [
    pytest.mark.slow,  # 17 to 30 s each
    pytest.mark.skipif(not ZIP.exists(), reason="build/handlers.zip missing (make package)"),
]

PROCESSORS = "analytics,etl,view,replicate"
TOO_MANY_DIGITS = "123456789012345678901234567890123456789012"  # ETL refuses it: poison


def deploy(
    stack: Stack,
    *,
    factor: int,
    batch_size: int = 10,
    retries: int = 2,
    timeout: int = 30,
) -> str:
    """The pipeline (analytics, ETL, view, replica) as ``Stack.deploy`` makes it, with a view
    and a replica table, and the mapping at ``ParallelizationFactor`` ``factor``; the
    mapping's UUID."""
    stack.deploy(processors=PROCESSORS, batch_size=batch_size, retries=retries, timeout=timeout)
    ddb, lam = stack.c["dynamodb"], stack.c["lambda"]
    for name in ("view", "replica"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    env = lam.get_function_configuration(FunctionName="pipeline")["Environment"]["Variables"]
    env.update({"VIEW_TABLE": "view", "VIEW_PARTITION_KEY": "pk", "REPLICA_TABLE": "replica"})
    for name in ("VIEW_SORT_KEY", "VIEW_ATTRIBUTES"):  # the stack's own view's shape: not this one
        env.pop(name, None)
    lam.update_function_configuration(FunctionName="pipeline", Environment={"Variables": env})
    (mapping,) = lam.list_event_source_mappings(FunctionName="pipeline")["EventSourceMappings"]
    lam.update_event_source_mapping(UUID=mapping["UUID"], ParallelizationFactor=factor)
    return str(mapping["UUID"])


def write(writer: Writer, count: int, keys: int, seed: int, jobs: int = 3) -> None:
    """``count`` changes over ``keys`` items: inserts, updates (some moving the item to
    another job), deletes; every job's aggregate is shared by items in every lane."""
    rng = random.Random(seed)
    for _ in range(count):
        key = f"{writer.prefix}-{rng.randrange(keys):02d}"
        if key in writer.live and rng.random() < 0.15:
            writer.delete(key)
        else:
            job = writer.live.get(key) or f"J{rng.randrange(jobs)}"
            if key in writer.live and rng.random() < 0.2:
                job = f"J{rng.randrange(jobs)}"
            put(writer, key, job)


def put(writer: Writer, key: str, job: str, **extra: Any) -> None:
    """``writer.put``, and the job transition analytics counts when the item changes job."""
    before = writer.live.get(key)
    writer.put(key, job, **extra)
    if before is not None and job != before:
        writer.expected[f'{TABLE}|job_id="{job}"'][f"job_id: {before} -> {job}"] += 1


@contextmanager
def overlapping(local_endpoint: str) -> Iterator[tuple[Proxy, Rule]]:
    """A proxy between the runtime (and its functions) and the endpoint whose first rule
    holds the first two checkpoint reads (each invocation's opening call) until both are
    in flight: two invocations of the shard run at once for sure, if the runtime runs them
    concurrently at all."""
    with Proxy(local_endpoint) as proxy:
        barrier = proxy.add(ddb_op("GetItem"), ("barrier", 2, 10.0), times=2)
        yield proxy, barrier


def run(stack: Stack, proxy: Proxy, uuid: str, expected_changes: int) -> Runtime:
    """Start a runtime through ``proxy`` and wait until it caught up with every change."""
    since = time.time()
    rt = stack.runtime(endpoint_url=proxy.url)
    assert rt.wait_caught_up(90, since=since), rt.report.summary()
    assert rt.report.stats[uuid].polled >= expected_changes
    return rt


def account(
    stack: Stack,
    writer: Writer,
    rt: Runtime,
    uuid: str,
    poison: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """The accounting every test ends with; ``poison``: sequence numbers of the changes that
    must be (exactly) the failure destination's records. Returns the figures."""
    stats = rt.report.stats[uuid]
    stack.close()  # while the proxy is still there
    records = stack.stream_records()
    every = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert len(every) == writer.count == len(set(every))
    # Batches of the shard overlapped (the barrier made sure they could).
    assert stats.max_in_flight > 1, stats
    # The failure destination holds exactly the poison records, each alone.
    messages = stack.drain(stack.dlq)
    infos = [m["DDBStreamBatchInfo"] for m in messages]
    failed = {i["startSequenceNumber"] for i in infos}
    assert all(i["startSequenceNumber"] == i["endSequenceNumber"] for i in infos), infos
    assert all(i["batchSize"] == 1 for i in infos), infos
    assert sorted(failed) == sorted(poison) and len(infos) == len(poison), infos
    # ETL: every other change exactly once, in order per key.
    lines = stack.etl_lines()
    delivered = Counter(x["sequenceNumber"] for x in lines)
    assert [s for s, n in delivered.items() if n > 1] == [], "duplicate ETL lines"
    assert set(delivered) == set(every) - failed
    figures = check_etl(lines, [writer], poison={key_of(r) for r in records if _seq(r) in failed})
    assert figures["out_of_order_keys"] == 0, figures
    # Analytics: exactly the writer's counts (every change happened in the table, the poison
    # ones too: analytics runs first and applies them before ETL refuses them).
    assert stack.aggregates() == writer.expected
    # View and replica: the source table's final state.
    ddb = stack.c["dynamodb"]
    for target in ("view", "replica"):
        report = verify(ddb, TABLE, ddb, target, segments=1, consistent_read=True)
        assert report.ok, (target, report.lines())
    return {
        "changes": len(every),
        "max_in_flight": stats.max_in_flight,
        "invocations": stats.invocations,
        "partial": stats.partial,
        "errors": stats.errors + stats.timeouts,
    }


def key_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def _seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def body_of(request: Request) -> dict[str, Any]:
    try:
        return dict(json.loads(request.body or b"{}"))
    except ValueError:
        return {}


def put_item(table: str, key: str | None = None) -> Callable[[Request], bool]:
    """A DynamoDB PutItem on ``table`` (of the item whose ``pk`` is ``key``)."""

    def match(request: Request) -> bool:
        if request.target != "PutItem":
            return False
        body = body_of(request)
        if body.get("TableName") != table:
            return False
        return key is None or body.get("Item", {}).get("pk") == {"S": key}

    return match


# -- the tests ----------------------------------------------------------------------------


def test_a_partial_failure_in_one_of_four_concurrent_batches(
    stack: Stack, local_endpoint: str
) -> None:
    # GIVEN the pipeline at factor 4 and 200 changes of 24 items
    uuid = deploy(stack, factor=4)
    writer = Writer(stack.c["dynamodb"], "p")
    write(writer, 200, keys=24, seed=21)
    with overlapping(local_endpoint) as (proxy, barrier):
        # WHEN the view's writes of one item are throttled through every retry of one
        # invocation (5 attempts): that batch reports a partial failure at the item's change
        # (analytics and ETL went further) while the other batches of the shard go on
        hot = proxy.add(put_item("view", "p-07"), ddb_throttling(), times=5)
        rt = run(stack, proxy, uuid, writer.count)
        figures = account(stack, writer, rt, uuid)
    # THEN the batch was retried from that record, the others were not held up, and every
    # sink holds each change exactly once
    assert barrier.hits == 2 and hot.hits == 5
    assert figures["partial"] >= 1, figures


def test_a_poison_record_is_bisected_out_while_the_other_batches_go_on(
    stack: Stack, local_endpoint: str
) -> None:
    # GIVEN the pipeline at factor 4 (batches of 10, 2 retries, bisect on) and 200 changes of
    # 24 items; two items get a number of 42 digits, which ETL refuses: the change that
    # writes it and the next one (its OldImage holds it) are poison, the one after is not
    uuid = deploy(stack, factor=4)
    writer = Writer(stack.c["dynamodb"], "b")
    write(writer, 80, keys=24, seed=4)
    put(writer, "b-03", "J1", salary={"N": TOO_MANY_DIGITS})
    write(writer, 60, keys=24, seed=5)
    put(writer, "b-11", "J2", salary={"N": TOO_MANY_DIGITS})
    put(writer, "b-03", "J1")
    write(writer, 60, keys=24, seed=6)
    put(writer, "b-11", "J2")
    put(writer, "b-03", "J1")
    put(writer, "b-11", "J2")
    poison = {
        _seq(r)
        for r in stack.stream_records()
        if "salary" in r["dynamodb"].get("NewImage", {}) | r["dynamodb"].get("OldImage", {})
    }
    assert len(poison) == 4
    with overlapping(local_endpoint) as (proxy, _):
        # WHEN the runtime delivers: each batch holding a poison record reports it, is
        # retried from it and bisected down to it, and it goes to the failure destination
        # alone, while the other lanes' batches are delivered meanwhile
        rt = run(stack, proxy, uuid, writer.count)
        figures = account(stack, writer, rt, uuid, poison=poison)
    # THEN (account) the destination holds exactly the four poison records, each alone, and
    # every sink every other change once; the later changes of the poison items came after
    # them (in order per key), and view and replica end with those items' last change
    assert figures["errors"] >= 4 * 3, figures  # each poison record: 1 + 2 retries alone


def test_a_function_killed_after_its_sink_writes_is_redelivered_exactly(
    stack: Stack, local_endpoint: str
) -> None:
    # GIVEN the pipeline at factor 4 with a 3-second timeout, and 160 changes of 24 items
    uuid = deploy(stack, factor=4, timeout=3)
    writer = Writer(stack.c["dynamodb"], "c")
    write(writer, 160, keys=24, seed=7)
    with overlapping(local_endpoint) as (proxy, _):
        # WHEN the replica's write of one item is held 5 seconds on the wire (it lands then,
        # late): the invocation, whose analytics, ETL and view writes are done, is killed at
        # its timeout (Sandbox.Timedout); Lambda retries the batch bisected, while the
        # other lanes go on
        slow = proxy.add(put_item("replica", "c-05"), ("delay", 5.0), times=1)
        rt = run(stack, proxy, uuid, writer.count)
        # past the moment the held write lands (the replica must still match): waited for,
        # not slept (a fixed pause let it land in the next test's replica on a busy machine)
        wait_until(lambda: slow.answered == 1, 30, rt)
        figures = account(stack, writer, rt, uuid)
    # THEN each change is in every sink exactly once
    assert slow.hits == 1
    assert figures["errors"] >= 1, figures


@pytest.mark.parametrize("factor", [4, 10])
def test_throttling_and_transaction_conflicts_on_shared_aggregates(
    stack: Stack, local_endpoint: str, factor: int
) -> None:
    # GIVEN the pipeline at factor 4 or 10 and 240 changes of 40 items in two jobs: every
    # lane's analytics commit updates the same two aggregate items
    uuid = deploy(stack, factor=factor, retries=-1)
    writer = Writer(stack.c["dynamodb"], "t")
    write(writer, 240, keys=40, seed=factor, jobs=2)
    with overlapping(local_endpoint) as (proxy, _):
        # WHEN analytics' transactions are cancelled for conflicts with other transactions
        # (TransactionCanceledException, reason TransactionConflict) until two invocations
        # reported failures, then throttled, with S3 and the view table throttling too,
        # until two more did
        conflict = ("respond", 400, DDB_JSON, ddb_transaction_conflict)
        phases = [
            [proxy.add(ddb_op("TransactWriteItems"), conflict, times=None)],
            [
                proxy.add(ddb_op("TransactWriteItems"), ddb_throttling(), times=None),
                proxy.add(s3_put("etl-bucket"), s3_slowdown(), times=None),
                proxy.add(put_item("view"), ddb_throttling(), times=None),
            ],
        ]
        for rule in phases[1]:
            rule.on = False
        since = time.time()
        rt = stack.runtime(endpoint_url=proxy.url)
        for number, phase in enumerate(phases):
            # each phase counts its own failures, from its own first hit: at factor 10 the
            # first phase alone can fail more than four invocations at once
            start = failures(rt, uuid)
            for rule in phase:
                rule.on = True
            if number:
                # fresh changes, so that the phase has work even if the backlog has drained
                write(writer, 80, keys=40, seed=factor + number, jobs=2)
            wait_until(
                lambda p=phase, n=start: p[0].hits > 0 and failures(rt, uuid) >= n + 2, 60, rt
            )
            for rule in phase:
                rule.on = False
        assert rt.wait_caught_up(90, since=since), rt.report.summary()
        figures = account(stack, writer, rt, uuid)
    # THEN the failed batches were retried, and the counts are exact (no transaction applied
    # twice, none lost), every change once in every sink
    assert all(rule.hits > 0 for phase in phases for rule in phase[:1])
    assert figures["partial"] + figures["errors"] >= 4, figures


def failures(rt: Runtime, uuid: str) -> int:
    """Invocations of the mapping that reported failures (partial or whole) so far."""
    stats = rt.report.snapshot(uuid)
    return int(stats.get("partial", 0) + stats.get("errors", 0) + stats.get("invalid", 0))


def wait_until(predicate: Callable[[], bool], timeout: float, rt: Runtime) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, rt.report.summary()
        time.sleep(0.05)


def test_a_restart_repeats_at_most_what_other_batches_did_past_the_shard_checkpoint(
    stack: Stack, local_endpoint: str
) -> None:
    """The weaker guarantee at factor above 1, and its bound. The shard's checkpoint is one
    position, the end of the prefix of records all done; while one batch fails, the other
    lanes go on past it. A poller that restarts (here: the mapping's BatchSize changes while
    the runtime is stopped, and it starts again) reads on after that position, so the
    records the other lanes did past it come again, cut into new batches that no checkpoint
    entry describes, and the handlers apply them again. Nothing is lost; view and replica
    stay exact (their writes are idempotent); analytics counts and ETL lines repeat, but
    only for records past the shard's checkpoint, each at most once per restart."""
    # GIVEN the pipeline at factor 4 and 200 changes of 24 items
    uuid = deploy(stack, factor=4, retries=-1)
    writer = Writer(stack.c["dynamodb"], "r")
    write(writer, 200, keys=24, seed=8)
    records = stack.stream_records()
    stuck = key_of(records[40])  # its first change is at most the 41st record
    with overlapping(local_endpoint) as (proxy, _):
        # WHEN the view refuses the changes of one item (its lane's batch fails and is
        # retried) while the other lanes deliver 100 records, the runtime is stopped ...
        refused = proxy.add(put_item("view", stuck), ddb_throttling(), times=None)
        rt = stack.runtime(endpoint_url=proxy.url)
        wait_until(lambda: refused.hits >= 10 and done(rt, uuid) >= 100, 60, rt)
        rt.close()
        stack.runtimes.remove(rt)
        (shard,) = rt.store.shards(uuid).values()
        checkpoint = int(shard.get("seq") or 0)
        assert checkpoint < min(int(_seq(r)) for r in records if key_of(r) == stuck)
        # ... its batch size changes, and it starts again once the view takes the item
        stack.c["lambda"].update_event_source_mapping(UUID=uuid, BatchSize=7)
        refused.on = False
        since = time.time()
        again = stack.runtime(endpoint_url=proxy.url)
        assert again.wait_caught_up(90, since=since), again.report.summary()
        stack.close()
    # THEN nothing is lost, the failure destination is empty, view and replica are exact
    every = [_seq(r) for r in records]
    assert rt.report.stats[uuid].max_in_flight > 1
    assert stack.drain(stack.dlq) == []
    lines = stack.etl_lines()
    delivered = Counter(x["sequenceNumber"] for x in lines)
    assert set(delivered) == set(every)
    ddb = stack.c["dynamodb"]
    for target in ("view", "replica"):
        assert verify(ddb, TABLE, ddb, target, segments=1, consistent_read=True).ok, target
    # and what repeats lies past the shard's checkpoint: ETL lines and analytics counts, at
    # most once more each (a change counts once, plus its job transition)
    past = [r for r in records if int(_seq(r)) > checkpoint]
    assert all(int(s) > checkpoint and n <= 2 for s, n in delivered.items() if n > 1)
    got, expected = stack.aggregates(), writer.expected
    assert set(got) == set(expected)
    excess = [
        got[pk].get(name, 0) - n for pk, counts in expected.items() for name, n in counts.items()
    ]
    assert min(excess) >= 0
    assert 0 < sum(excess) <= sum(1 + _moves_job(r) for r in past)


def done(rt: Runtime, uuid: str) -> int:
    return int(rt.report.snapshot(uuid).get("records_done", 0))


def _moves_job(record: dict[str, Any]) -> int:
    """1 when the change moves the item to another job (analytics counts a transition)."""
    ddb = record["dynamodb"]
    old, new = ddb.get("OldImage", {}).get("job_id"), ddb.get("NewImage", {}).get("job_id")
    return int(record["eventName"] == "MODIFY" and old is not None and old != new)
