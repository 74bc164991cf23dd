"""ETL against moto S3: lines, objects and partitions, failures, and exactly-once under every
redelivery pattern Lambda produces (replayed with tests.lambda_sim).

Every replay ends with ``assert_exactly_once``: it reads back every object of the bucket,
checks the layout (key = partition of every line + first line's sequence number, lines in
sequence order) and counts each record's line across the whole bucket.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.config import Config

from handlers import aws, etl
from handlers.batch import Batch, BatchFailed, Budget, Failure, Outcome, run_batch
from handlers.checkpoint import CheckpointStore
from handlers.etl import EtlProcessor
from handlers.stream import StreamRecord, parse_event
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.lambda_sim import crash_after_call, deliver

BUCKET = "etl-test-bucket"
PREFIX = "changes/"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
HOUR = 3600
LABEL = "20260101T000000000"
KEY = re.compile(
    r"(?P<prefix>.*?)table=(?P<table>[^/]+)/dt=(?P<dt>\d{4}-\d\d-\d\d)/hour=(?P<hour>\d\d)/"
    r"(?P<seq>\d{40})-(?P<label>[0-9T]+)\.jsonl\.gz\Z"
)


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def s3(aws_env: str) -> Any:
    client = make_client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def etl_env(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Environment for the real entry point ``handlers.etl.handler`` (default prefix)."""
    monkeypatch.setenv("ETL_BUCKET", BUCKET)
    monkeypatch.delenv("ETL_PREFIX", raising=False)
    monkeypatch.delenv("CHECKPOINT_TABLE", raising=False)
    return s3


@pytest.fixture
def ddb(aws_env: str) -> Any:
    create_table("checkpoints")
    return make_client("dynamodb")


class Puts:
    """Counts PutObject attempts on a real client (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.keys: list[str] = []
        client.meta.events.register("provide-client-params.s3.PutObject", self._hook)

    def _hook(self, params: dict[str, Any], **_: Any) -> None:
        self.keys.append(params["Key"])


def fail_puts(client: Any, calls: set[int], status: int = 500, code: str = "InternalError") -> None:
    """Make the listed PutObject calls (1-based) fail as S3 would, without effect."""
    counter = itertools.count(1)

    def hook(**_: Any) -> Any:
        if next(counter) in calls:
            error = {"Code": code, "Message": "injected failure"}
            return (
                SimpleNamespace(status_code=status, headers={}),
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}},
            )
        return None

    client.meta.events.register("before-call.s3.PutObject", hook)


_fail_key_hooks: list[Any] = []


def fail_key(
    client: Any,
    part: str,
    *,
    times: int | None = None,
    status: int = 500,
    code: str = "InternalError",
) -> None:
    """Make PutObject calls whose key contains ``part`` fail as S3 would, without effect
    (``times`` of them; None: all), whatever the order in which concurrent writes are made."""
    left = [times]

    def hook(params: dict[str, Any], **_: Any) -> Any:
        if part in unquote(params["url_path"]) and left[0] != 0:
            if left[0] is not None:
                left[0] -= 1
            error = {"Code": code, "Message": "injected failure"}
            return (
                SimpleNamespace(status_code=status, headers={}),
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}},
            )
        return None

    _fail_key_hooks.append(hook)
    client.meta.events.register("before-call.s3.PutObject", hook)


class FailAt:
    """Another processor of a pipeline: fails at the given records (``times`` per record,
    None = always), having applied everything before them."""

    name = "other"

    def __init__(
        self, seqs: Sequence[str], kind: Failure = Failure.POISON, times: int | None = None
    ) -> None:
        self.seqs = set(seqs)
        self.kind = kind
        self.times = times
        self.failed: Counter[str] = Counter()

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        for i, record in enumerate(records):
            seq = record.sequence_number
            if seq in self.seqs and (self.times is None or self.failed[seq] < self.times):
                self.failed[seq] += 1
                return Outcome(i, self.kind, "injected failure")
        return Outcome(len(records))


def make_handler(
    client: Any, *others: Any, store: CheckpointStore | None = None, prefix: str = PREFIX
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    proc = EtlProcessor(BUCKET, prefix, lambda: client)
    return lambda event, context: run_batch(event, context, [proc, *others], store)


def seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def seqs(records: Sequence[dict[str, Any]]) -> list[str]:
    return [seq(r) for r in records]


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def read_bucket(s3: Any) -> dict[str, list[str]]:
    """Every object of the bucket: key -> its lines (text, newline-terminated)."""
    out: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            text = gzip.decompress(body).decode("utf-8")
            assert text.endswith("\n"), obj["Key"]
            out[obj["Key"]] = [line + "\n" for line in text.split("\n")[:-1]]
    return out


def line_counts(objects: dict[str, list[str]]) -> Counter[str]:
    """Lines per sequence number across the bucket, after checking every object's layout."""
    counts: Counter[str] = Counter()
    for key, lines in objects.items():
        match = KEY.match(key)
        assert match, key
        assert match["prefix"] == PREFIX and match["label"] == LABEL, key
        parsed = [json.loads(line) for line in lines]
        numbers = [int(p["sequenceNumber"]) for p in parsed]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), key
        assert parsed[0]["sequenceNumber"].zfill(40) == match["seq"], key
        for p in parsed:
            when = p["approximateCreationDateTime"]
            assert (when[:10], when[11:13]) == (match["dt"], match["hour"]), key
            counts[p["sequenceNumber"]] += 1
    return counts


def assert_exactly_once(
    s3: Any, records: Sequence[dict[str, Any]], absent: Sequence[str] = ()
) -> dict[str, list[str]]:
    objects = read_bucket(s3)
    counts = line_counts(objects)
    duplicated = sorted(s for s, c in counts.items() if c > 1)
    missing = sorted(s for s in seqs(records) if s not in counts and s not in absent)
    assert not duplicated, f"records written more than once: {duplicated}"
    assert not missing, f"records missing from S3: {missing}"
    assert set(counts) == set(seqs(records)) - set(absent)
    return objects


def spanning(n: int, boundary: int, *, day: bool = False) -> list[dict[str, Any]]:
    """n records one second apart; record ``boundary`` is the first of a new hour (and, with
    ``day``, of a new day: 2025-12-31T23:59:xx -> 2026-01-01T00:00:00)."""
    base = (T0 if day else T0 + HOUR) - boundary
    names = itertools.cycle(["INSERT", "MODIFY", "REMOVE"])
    return f.sequential(
        [
            f.record(
                next(names), {"pk": f"item-{i}"}, new={"v": i}, old={"v": i - 1}, created=base + i
            )
            for i in range(n)
        ]
    )


def partitions(objects: dict[str, list[str]]) -> list[tuple[str, int]]:
    return sorted(
        (key.split("/", 2)[2].rsplit("/", 1)[0], len(lines)) for key, lines in objects.items()
    )


# -- the line format through S3 --------------------------------------------------------

KEYS = {"pk": "job#42", "sk": 7}
NEW = {"status": "OFFER", "score": 91, "remote": True, "notes": None, "tags": ["a", 1]}
OLD = {"status": "INTERVIEW", "score": 80}


@pytest.mark.parametrize("view_type", f.VIEW_TYPES)
@pytest.mark.parametrize("event_name", f.EVENT_NAMES)
def test_each_view_type_and_event_name(etl_env: Any, view_type: str, event_name: str) -> None:
    rec = f.record(event_name, KEYS, NEW, OLD, view_type=view_type, created=T0 + 61)
    response = etl.handler(f.event([rec]), f.Context())
    assert response == {"batchItemFailures": []}
    ((key, lines),) = read_bucket(etl_env).items()
    assert (
        key
        == f"changes/table=applications/dt=2026-01-01/hour=00/{seq(rec).zfill(40)}-{LABEL}.jsonl.gz"
    )
    # Expected text built independently: json.dumps of plain values in the documented order.
    expected: dict[str, Any] = {
        "eventID": rec["eventID"],
        "eventName": event_name,
        "sequenceNumber": seq(rec),
        "approximateCreationDateTime": "2026-01-01T00:01:01Z",
        "keys": KEYS,
    }
    if event_name != "REMOVE" and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        expected["newImage"] = {**KEYS, **NEW}
    if event_name != "INSERT" and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        expected["oldImage"] = {**KEYS, **OLD}
    expected["ttlExpired"] = False
    assert lines == [json.dumps(expected, separators=(",", ":"), ensure_ascii=False) + "\n"]


def test_unusual_values_and_a_400_kb_item_round_trip(etl_env: Any) -> None:
    raw_bytes = bytes(range(256)) * 3
    item = {
        "n38": Decimal("12345678901234567890123456789012345678"),
        "tiny": Decimal("1E-130"),
        "bin": raw_bytes,
        "ss": {"pear", "apple", "Äpfel"},
        "ns": {Decimal("3"), Decimal("-2.5"), Decimal("10")},
        "bs": {b"\xff", b"\x00"},
        "empty": "",
        "naïve ☃": "snow ☃",
        "a.b.c": {"x.y": ""},
    }
    big = {"blob": "x" * 400_000}
    recs = f.sequential(
        [
            f.record("INSERT", {"pk": "p1"}, new=item, created=T0),
            f.record("MODIFY", {"pk": "p2"}, new=big, old=big, created=T0 + 1),
        ]
    )
    assert etl.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    ((_, lines),) = read_bucket(etl_env).items()
    first, second = lines
    assert '"n38":12345678901234567890123456789012345678' in first
    assert '"tiny":1E-130' in first
    assert '"ss":["apple","pear","Äpfel"]' in first  # code point order: "Ä" > "p"
    assert '"ns":[-2.5,3,10]' in first
    assert '"bs":["AA==","/w=="]' in first
    assert '"empty":""' in first and '"a.b.c":{"x.y":""}' in first
    assert '"naïve ☃":"snow ☃"' in first
    new = json.loads(first, parse_float=Decimal)["newImage"]
    assert base64.b64decode(new["bin"]) == raw_bytes
    assert new["n38"] == item["n38"]
    assert len(second) > 800_000
    parsed = json.loads(second)
    assert parsed["newImage"]["blob"] == parsed["oldImage"]["blob"] == big["blob"]


def test_ttl_expired_removals_are_flagged(etl_env: Any) -> None:
    recs = f.sequential([f.record("REMOVE", ttl=True), f.record("REMOVE"), f.record("INSERT")])
    etl.handler(f.event(recs), f.Context())
    ((_, lines),) = read_bucket(etl_env).items()
    assert [json.loads(line)["ttlExpired"] for line in lines] == [True, False, False]
    assert lines[0].endswith(',"ttlExpired":true}\n')


def test_partitions_follow_creation_time_across_hour_and_day_boundaries(etl_env: Any) -> None:
    times = [T0 - 1, T0, T0 + 1, T0 + HOUR - 1, T0 + HOUR, T0 + 24 * HOUR + 59]
    recs = f.sequential([f.record(created=t) for t in times])
    puts = Puts(aws.client("s3"))
    assert etl.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    objects = assert_exactly_once(etl_env, recs)
    assert partitions(objects) == [
        ("dt=2025-12-31/hour=23", 1),
        ("dt=2026-01-01/hour=00", 3),
        ("dt=2026-01-01/hour=01", 1),
        ("dt=2026-01-02/hour=00", 1),
    ]
    assert len(puts.keys) == 4
    times_written = sorted(
        json.loads(line)["approximateCreationDateTime"]
        for lines in objects.values()
        for line in lines
    )
    assert times_written == [
        "2025-12-31T23:59:59Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:59:59Z",
        "2026-01-01T01:00:00Z",
        "2026-01-02T00:00:59Z",
    ]


def test_one_object_per_partition_per_batch_with_metadata(etl_env: Any) -> None:
    recs = spanning(100, 60)
    puts = Puts(aws.client("s3"))
    etl.handler(f.event(recs), f.Context())
    objects = assert_exactly_once(etl_env, recs)
    assert partitions(objects) == [("dt=2026-01-01/hour=00", 60), ("dt=2026-01-01/hour=01", 40)]
    assert len(puts.keys) == 2
    (key,) = [k for k in puts.keys if "/hour=01/" in k]  # written concurrently: any order
    head = etl_env.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "application/gzip"
    assert head["Metadata"] == {
        "records": "40",
        "first-sequence-number": seq(recs[60]),
        "last-sequence-number": seq(recs[99]),
    }


def test_custom_prefix(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_BUCKET", BUCKET)
    monkeypatch.setenv("ETL_PREFIX", "exports/ddb")
    rec = f.record(created=T0)
    etl.handler(f.event([rec]), f.Context())
    assert list(read_bucket(s3)) == [
        f"exports/ddb/table=applications/dt=2026-01-01/hour=00/{seq(rec).zfill(40)}-{LABEL}.jsonl.gz"
    ]


@pytest.mark.parametrize("table", ["..", "...", "a..b", "x%2F..%2Fy", "ta ble", "Ω"])
def test_hostile_table_name_cannot_escape_the_prefix(etl_env: Any, table: str) -> None:
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/../../{f.STREAM_ARN[-23:]}"
    recs = f.sequential(
        [f.record(created=T0, stream_arn=arn), f.record(created=T0, stream_arn=arn)]
    )
    assert etl.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    objects = read_bucket(etl_env)
    ((key, lines),) = objects.items()
    assert len(lines) == 2
    segments = key.split("/")
    assert len(segments) == 5 and segments[0] == "changes"
    assert segments[1].startswith("table=") and segments[1] != "table="
    assert ".." not in key and "//" not in key
    assert segments[4] == f"{seq(recs[0]).zfill(40)}-{LABEL}.jsonl.gz"


def test_stream_arn_without_a_table_fails_the_batch(etl_env: Any) -> None:
    recs = [f.record(stream_arn="arn:aws:dynamodb:us-east-1:123456789012:stream/x")]
    with pytest.raises(BatchFailed, match="names no table"):
        etl.handler(f.event(recs), f.Context())
    assert read_bucket(etl_env) == {}


# -- failures --------------------------------------------------------------------------


def poison(record: dict[str, Any]) -> dict[str, Any]:
    record["dynamodb"]["Keys"]["pk"] = {"N": "not-a-number"}
    return record


def test_poison_first_record_raises_and_writes_nothing(etl_env: Any) -> None:
    recs = spanning(5, 2)
    poison(recs[0])
    with pytest.raises(BatchFailed, match=r"Keys\.pk: N must be"):
        etl.handler(f.event(recs), f.Context())
    assert read_bucket(etl_env) == {}


@pytest.mark.parametrize("bad", [1, 3, 4, 7])
def test_poison_later_record_reports_it_and_every_later_one(etl_env: Any, bad: int) -> None:
    recs = spanning(8, 3)  # hour 00: records 0-2, hour 01: records 3-7
    poison(recs[bad])
    response = etl.handler(f.event(recs), f.Context())
    assert failures(response) == seqs(recs[bad:])
    objects = assert_exactly_once(etl_env, recs[:bad])
    assert len(objects) == (1 if bad <= 3 else 2)


def test_missing_bucket_is_transient_and_reports_the_whole_batch(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_BUCKET", "no-such-bucket")
    recs = spanning(4, 2)
    proc = etl.processor()
    outcome = proc.process(parse_event(f.event(recs)), Batch([], "", Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "NoSuchBucket" in outcome.reason and "s3://no-such-bucket/changes/" in outcome.reason
    # Transient on the first record: reported (a plain retry), not raised (no bisect).
    assert failures(etl.handler(f.event(recs), f.Context())) == seqs(recs)


def test_put_failure_stops_at_that_run_and_later_runs_are_not_attempted(s3: Any) -> None:
    recs = f.sequential([*spanning(6, 3), *[f.record(created=T0 + 2 * HOUR + i) for i in range(3)]])
    puts = Puts(s3)
    fail_puts(s3, {2})
    proc = EtlProcessor(BUCKET, PREFIX, lambda: s3, workers=1)  # one object at a time
    response = run_batch(f.event(recs), f.Context(), [proc], None)
    assert failures(response) == seqs(recs[3:])
    assert len(puts.keys) == 2  # the third run was not attempted
    assert_exactly_once(s3, recs[:3])
    # The redelivery starts at the reported record and completes exactly once.
    assert make_handler(s3)(f.event(recs[3:]), f.Context()) == {"batchItemFailures": []}
    assert_exactly_once(s3, recs)


def test_objects_are_written_concurrently_and_a_middle_failure_is_reported(s3: Any) -> None:
    """Three partitions, three objects in flight at once (each PutObject waits until all
    three were made, so this cannot pass one at a time). The middle one fails while the
    last one succeeds: the failure is reported at the middle run's first record, everything
    before it is written, and the redelivery overwrites the last object: exactly once."""
    recs = f.sequential([*spanning(6, 3), *[f.record(created=T0 + 2 * HOUR + i) for i in range(3)]])
    made = threading.Barrier(3, timeout=10)

    def together(**_: Any) -> None:
        made.wait()

    s3.meta.events.register("before-call.s3.PutObject", together)
    puts = Puts(s3)
    fail_key(s3, "/hour=01/")
    response = make_handler(s3)(f.event(recs), f.Context())
    assert failures(response) == seqs(recs[3:])
    assert len(puts.keys) == 3  # all three made, the middle one failed
    assert_exactly_once(s3, [*recs[:3], *recs[6:]])
    s3.meta.events.unregister("before-call.s3.PutObject", together)
    s3.meta.events.unregister("before-call.s3.PutObject", _fail_key_hooks.pop())
    assert make_handler(s3)(f.event(recs[3:]), f.Context()) == {"batchItemFailures": []}
    assert_exactly_once(s3, recs)


def test_put_failure_reason_names_the_code(s3: Any) -> None:
    fail_key(s3, "/hour=00/", status=403, code="AccessDenied")  # the first run's object
    proc = EtlProcessor(BUCKET, PREFIX, lambda: s3)
    outcome = proc.process(parse_event(f.event(spanning(2, 1))), Batch([], "", Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "AccessDenied" in outcome.reason


def test_unreachable_endpoint_is_transient(aws_env: str) -> None:
    dead = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.5),
    )
    proc = EtlProcessor(BUCKET, PREFIX, lambda: dead)
    outcome = proc.process(parse_event(f.event(spanning(2, 1))), Batch([], "", Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "EndpointConnectionError" in outcome.reason


def test_no_time_left_writes_nothing_and_raises(etl_env: Any) -> None:
    puts = Puts(aws.client("s3"))
    with pytest.raises(BatchFailed, match="time budget ran out"):
        etl.handler(f.event(spanning(4, 2)), f.Context(remaining_ms=0))
    assert puts.keys == [] and read_bucket(etl_env) == {}


def test_budget_running_out_between_puts_reports_the_unwritten_runs(
    etl_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = iter([False, True, True])
    monkeypatch.setattr(Budget, "expired", lambda self: next(checks))
    recs = spanning(6, 2)
    response = etl.handler(f.event(recs), f.Context())
    assert failures(response) == seqs(recs[2:])
    assert_exactly_once(etl_env, recs[:2])


# -- exactly once under every redelivery pattern ---------------------------------------


def test_same_batch_again_overwrites_with_identical_bytes(s3: Any) -> None:
    recs = spanning(10, 6)
    handler = make_handler(s3)
    handler(f.event(recs), f.Context())
    first = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in read_bucket(s3)}
    handler(f.event(recs), f.Context())
    second = {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in read_bucket(s3)}
    assert first == second and len(first) == 2
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("day", [False, True])
@pytest.mark.parametrize("k", range(1, 10))
def test_bisected_halves_after_the_batch_was_written(s3: Any, k: int, day: bool) -> None:
    # GIVEN 10 records, 0-5 in one partition and 6-9 in the next, all written
    recs = spanning(10, 6, day=day)
    handler = make_handler(s3)
    handler(f.event(recs), f.Context())
    # WHEN the function failed after the write and Lambda retries the halves split at k
    # (inside the first run, at the partition boundary k=6, or inside the second run)
    for half in (recs[:k], recs[k:]):
        assert handler(f.event(half), f.Context()) == {"batchItemFailures": []}
    # THEN every record is in S3 exactly once
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("lands", ["after the first half", "before the first half"])
def test_a_write_sent_before_the_function_died_cannot_put_its_records_back(
    s3: Any, lands: str
) -> None:
    # GIVEN a batch of 10 records (one object) whose PutObject was sent, but the function
    # died before S3 applied it (say another processor of the pipeline crashed it): the
    # request is held, as on the network
    recs = spanning(10, 10)
    held: list[dict[str, Any]] = []

    class Dying:
        meta = s3.meta

        def put_object(self, **params: Any) -> None:
            held.append(params)
            raise RuntimeError("the function died with its PutObject on the way")

    with pytest.raises(RuntimeError):
        run_batch(f.event(recs), f.Context(), [EtlProcessor(BUCKET, PREFIX, Dying)], None)
    handler = make_handler(s3)

    def late_write() -> None:
        # S3 applies the held request; refused once the object exists (412)
        try:
            s3.put_object(**held[0])
        except s3.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "PreconditionFailed"

    if lands == "before the first half":
        late_write()
    # WHEN Lambda bisects the batch: the first half rewrites the object with 4 records,
    # the second half writes its own
    assert handler(f.event(recs[:4]), f.Context()) == {"batchItemFailures": []}
    if lands == "after the first half":
        late_write()
    assert handler(f.event(recs[4:]), f.Context()) == {"batchItemFailures": []}
    # THEN every record is in S3 once: the late write did not put the 10 records back
    assert len(held) == 1
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("split", [lambda n: n // 2, lambda n: (n + 1) // 2])
def test_bisection_down_to_single_records_after_each_level_wrote(s3: Any, split: Any) -> None:
    # Every invocation of more than one record writes everything, then dies: Lambda bisects
    # level by level down to single records, each level overwriting the previous one's work.
    recs = spanning(11, 4)
    inner = make_handler(s3)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = inner(event, context)
        if len(event["Records"]) > 1:
            raise RuntimeError("killed after the write")
        return response

    out = deliver(handler, recs, split=split)
    assert out.dlq == []
    assert len(out.invocations) == 2 * len(recs) - 1
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("bisect", [True, False])
@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_crash_right_after_a_write_then_lambda_redelivers(
    s3: Any, crash_at: int, bisect: bool
) -> None:
    # Three partitions; the process dies right after its crash_at-th PutObject (a timeout).
    recs = f.sequential(
        [f.record(created=T0 + HOUR - 4 + i) for i in range(8)]
        + [f.record(created=T0 + 2 * HOUR + i) for i in range(3)]
    )
    client = crash_after_call(s3, "put_object", [crash_at])
    out = deliver(make_handler(client), recs, bisect=bisect)
    assert out.dlq == []
    assert len(out.invocations) > 1
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("bad", [2, 4, 6, 9])
def test_restart_at_a_poison_record(s3: Any, bad: int) -> None:
    # 0-3 in hour 00, 4-9 in hour 01; the poison record is mid-run, at the boundary or last
    recs = spanning(10, 4)
    poison(recs[bad])
    handler = make_handler(s3)
    first = handler(f.event(recs), f.Context())
    assert failures(first) == seqs(recs[bad:])
    assert_exactly_once(s3, recs[:bad])
    out = deliver(handler, recs[bad:])
    assert out.invocations[0] == seqs(recs[bad:])
    assert out.dlq == [[seq(recs[bad])]]
    assert_exactly_once(s3, recs, absent=[seq(recs[bad])])


def test_restart_after_a_transient_put_failure(s3: Any) -> None:
    recs = spanning(10, 4)
    fail_key(s3, "/hour=01/", times=1)  # the second run's object, once
    puts = Puts(s3)
    out = deliver(make_handler(s3), recs)
    assert out.invocations == [seqs(recs), seqs(recs[4:])]
    assert len(puts.keys) == 3
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("k", [2, 6, 8])
def test_restart_caused_by_another_processor_skips_what_etl_applied(
    s3: Any, ddb: Any, k: int
) -> None:
    # GIVEN a pipeline [etl, other] with a checkpoint table; other fails (transiently) at k
    recs = spanning(10, 6)
    store = CheckpointStore("checkpoints", "fn", lambda: ddb)
    other = FailAt([seq(recs[k])], Failure.TRANSIENT, times=1)
    puts = Puts(s3)
    handler = make_handler(s3, other, store=store)
    response = handler(f.event(recs), f.Context())
    # THEN the response restarts at k, while ETL already wrote every record
    assert failures(response) == seqs(recs[k:])
    assert_exactly_once(s3, recs)
    assert len(puts.keys) == 2
    # WHEN Lambda redelivers from k (and the batch now reaches further, into a new run)
    more = f.sequential(
        [*recs, *[f.record(created=T0 + HOUR + 30 + i) for i in range(3)]], start=int(seq(recs[0]))
    )
    assert more[:10] == recs
    assert handler(f.event(more[k:]), f.Context()) == {"batchItemFailures": []}
    # THEN ETL skipped k..9 (checkpoint) and wrote only the new records, in a new object
    assert len(puts.keys) == 3 and seq(more[10]).zfill(40) in puts.keys[2]
    assert_exactly_once(s3, more)


def test_without_the_checkpoint_that_restart_would_duplicate(s3: Any) -> None:
    # The counter-check: the same sequence without a checkpoint store writes records 6-9
    # twice, so the test above does detect duplicates and the checkpoint is what prevents them.
    recs = spanning(10, 6)
    handler = make_handler(s3, FailAt([seq(recs[7])], Failure.TRANSIENT, times=1))
    handler(f.event(recs), f.Context())
    handler(f.event(recs[7:]), f.Context())
    counts = line_counts(read_bucket(s3))
    assert sorted(s for s, c in counts.items() if c == 2) == seqs(recs[7:])


@pytest.mark.parametrize("k", [3, 6])
def test_restart_caused_by_another_processors_poison_record_lambda_style(
    s3: Any, ddb: Any, k: int
) -> None:
    recs = spanning(10, 6)
    store = CheckpointStore("checkpoints", "fn", lambda: ddb)
    puts = Puts(s3)
    out = deliver(make_handler(s3, FailAt([seq(recs[k])]), store=store), recs)
    assert out.dlq == [[seq(recs[k])]]
    assert len(puts.keys) == 2  # ETL wrote once and skipped every redelivery
    assert_exactly_once(s3, recs)


@pytest.mark.parametrize("split", [lambda n: n // 2, lambda n: (n + 1) // 2])
@pytest.mark.parametrize("order", ["etl-first", "etl-last"])
def test_first_record_fails_for_another_processor(
    s3: Any, ddb: Any, split: Any, order: str
) -> None:
    # GIVEN 11 records over two partitions and another processor that rejects the first one
    recs = spanning(11, 5)
    store = CheckpointStore("checkpoints", "fn", lambda: ddb)
    other = FailAt([seq(recs[0])])
    proc = EtlProcessor(BUCKET, PREFIX, lambda: s3)
    processors = [proc, other] if order == "etl-first" else [other, proc]
    puts = Puts(s3)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return run_batch(event, context, processors, store)

    # WHEN the first delivery raises (so Lambda bisects) ...
    with pytest.raises(BatchFailed):
        handler(f.event(recs), f.Context())
    # ... and Lambda then feeds the bisected halves, then single records
    out = deliver(handler, recs, split=split)
    assert out.invocations[1] == seqs(recs[: split(11)])
    assert out.dlq == [[seq(recs[0])]]
    # In either order (the processors run at once), ETL applied every record in the first
    # delivery and skipped them all afterwards: the checkpoint entries at the batch start
    # and both split points say so
    assert len(puts.keys) == 2
    assert_exactly_once(s3, recs)
