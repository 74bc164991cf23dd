"""Notification processor against moto SNS, read back through a subscribed SQS queue.

The queue is subscribed with raw message delivery, so each SQS message body is exactly the
published SNS message and its SQS message attributes are the SNS message attributes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Collection
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import aws, notification
from handlers.batch import Batch, BatchFailed, Budget, Failure
from handlers.config import ConfigError
from handlers.notification import MAX_MESSAGE_BYTES
from handlers.stream import parse_event
from tests import factories as f
from tests.conftest import make_client
from tests.factories import BIG, HAS_NEW, HAS_OLD, KEYS, NEW, NEW_JSON, OLD, OLD_JSON
from tests.reliability.faults import InFlight


class Topic:
    """An SNS topic with a raw-delivery SQS subscription, and the calls made to it."""

    def __init__(self, fifo: bool = False) -> None:
        self.sns = make_client("sns")
        self.sqs = make_client("sqs")
        suffix = ".fifo" if fifo else ""
        self.arn = self.sns.create_topic(
            Name=f"changes{suffix}", Attributes={"FifoTopic": "true"} if fifo else {}
        )["TopicArn"]
        self.queue = self.sqs.create_queue(
            QueueName=f"subscriber{suffix}", Attributes={"FifoQueue": "true"} if fifo else {}
        )["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.calls: list[list[dict[str, Any]]] = []
        self.sns.meta.events.register("before-parameter-build.sns.PublishBatch", self._count)
        aws.set_client("sns", self.sns)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(list(params["PublishBatchRequestEntries"]))

    def in_order(self) -> list[list[dict[str, Any]]]:
        """The calls by the place of their first record (they are made concurrently)."""
        return sorted(self.calls, key=lambda c: int(c[0]["Id"]))

    def received(self) -> list[dict[str, Any]]:
        """Every message delivered to the queue, in order (drained)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"], parse_float=Decimal) for m in self.received()]


def configure(monkeypatch: pytest.MonkeyPatch, topic_arn: str) -> None:
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", topic_arn)
    for name in (
        "NOTIFY_EVENTS",
        "NOTIFY_ATTRIBUTES",
        "NOTIFY_REDACT",
        "NOTIFY_PUBLISH_CONCURRENCY",
        "CHECKPOINT_TABLE",
    ):
        monkeypatch.delenv(name, raising=False)


def one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFY_PUBLISH_CONCURRENCY=1: calls are made one after another, so a test can name
    the Nth call (the contract is the same at any setting; concurrency has its own tests)."""
    monkeypatch.setenv("NOTIFY_PUBLISH_CONCURRENCY", "1")


@pytest.fixture
def topic(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Topic:
    t = Topic()
    configure(monkeypatch, t.arn)
    return t


def run(records: list[dict[str, Any]], remaining_ms: int = 60_000) -> dict[str, Any]:
    return notification.handler(f.event(records), f.Context(remaining_ms))


def entry_bytes(entry: dict[str, Any]) -> int:
    """Size as SNS counts it: body plus each attribute's name, data type and value."""
    size = len(entry["Message"].encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"]) + len(value["StringValue"].encode())
    return size


# ----------------------------------------------------------------------------------------
# Content: each view type x each event name
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("view_type", f.VIEW_TYPES)
@pytest.mark.parametrize("event_name", f.EVENT_NAMES)
def test_each_view_type_and_event_name(topic: Topic, view_type: str, event_name: str) -> None:
    # GIVEN one change of each kind under each view type
    rec = f.record(event_name, KEYS, NEW, OLD, view_type=view_type, created=1_767_229_261)

    # WHEN the handler runs
    assert run([rec]) == {"batchItemFailures": []}

    # THEN exactly one message with the documented keys, in order, and exact values
    (message,) = topic.received()
    body = json.loads(message["Body"], parse_float=Decimal)
    image_key = "oldImage" if event_name == "REMOVE" else "newImage"
    assert list(body) == [*f.CHANGE_FIELDS, image_key, "imagesOmitted"]
    both = view_type == "NEW_AND_OLD_IMAGES"
    if event_name == "REMOVE":
        image = OLD_JSON if view_type in HAS_OLD else None
    else:
        image = NEW_JSON if view_type in HAS_NEW else None
    assert body == {
        **f.change_fields(rec),
        image_key: image,
        "imagesOmitted": False,
    }
    if image is not None:  # the 38-digit number is written digit for digit
        assert f'"score":{BIG}' in message["Body"]
    attributes = message["MessageAttributes"]
    assert attributes["eventName"] == {"DataType": "String", "StringValue": event_name}
    if event_name == "MODIFY" and both:
        assert attributes["changedAttributes"] == {
            "DataType": "String.Array",
            "StringValue": '["blob","status"]',
        }
    else:  # unknown (no images) or not applicable: no attribute to filter on
        assert "changedAttributes" not in attributes
    assert len(topic.calls) == 1


def test_subscriber_without_raw_delivery_sees_the_same_message(topic: Topic) -> None:
    # GIVEN a second queue subscribed with SNS's default envelope (raw delivery off)
    queue = topic.sqs.create_queue(QueueName="enveloped")["QueueUrl"]
    queue_arn = topic.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic.sns.subscribe(TopicArn=topic.arn, Protocol="sqs", Endpoint=queue_arn)
    rec = f.record("MODIFY", KEYS, NEW, OLD)

    run([rec])

    (raw,) = topic.received()
    (message,) = topic.sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["TopicArn"] == topic.arn
    assert envelope["Message"] == raw["Body"]
    assert envelope["MessageAttributes"] == {
        "eventName": {"Type": "String", "Value": "MODIFY"},
        "changedAttributes": {"Type": "String.Array", "Value": '["blob","status"]'},
    }


def test_ttl_deletion_is_flagged(topic: Topic) -> None:
    rec = f.record("REMOVE", KEYS, old=OLD, ttl=True)
    run([rec])
    (body,) = topic.bodies()
    assert body["ttlExpired"] is True


def test_set_order_and_number_formatting_are_not_changes(topic: Topic) -> None:
    # GIVEN a MODIFY whose typed values differ only in set order and number formatting
    same = f.record("MODIFY", KEYS, {"n": 1, "tags": {"a"}}, {"n": 1, "tags": {"a"}})
    same["dynamodb"]["OldImage"].update(n={"N": "1.50"}, tags={"SS": ["a", "b"]})
    same["dynamodb"]["NewImage"].update(n={"N": "1.5"}, tags={"SS": ["b", "a"]})
    # AND one that also changes a number into a boolean of equal Python value
    flip = f.record("MODIFY", KEYS, {"flag": True}, {"flag": 1})

    response = run(f.sequential([same, flip]))

    # THEN the first is skipped (done, no message), the second notifies 1 -> true
    assert response == {"batchItemFailures": []}
    (body,) = topic.bodies()
    assert body["sequenceNumber"] == f.seqs(f.sequential([same, flip]))[1]
    assert body["changedAttributes"] == {"flag": {"old": 1, "new": True}}


# ----------------------------------------------------------------------------------------
# NOTIFY_EVENTS, NOTIFY_ATTRIBUTES, NOTIFY_REDACT
# ----------------------------------------------------------------------------------------


def test_notify_events_selects_event_names(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_EVENTS", "INSERT, REMOVE")
    records = f.sequential(
        [
            f.record("INSERT", KEYS, NEW),
            f.record("MODIFY", KEYS, NEW, OLD),
            f.record("REMOVE", KEYS, old=OLD),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    assert [b["eventName"] for b in topic.bodies()] == ["INSERT", "REMOVE"]


def test_notify_attributes_filters_modify(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_ATTRIBUTES", "status,stage")
    records = f.sequential(
        [
            # only an unwatched attribute changed: skipped
            f.record("MODIFY", KEYS, {"status": "A", "score": 2}, {"status": "A", "score": 1}),
            # a watched one changed: notified with every changed attribute
            f.record("MODIFY", KEYS, {"status": "B", "score": 2}, {"status": "A", "score": 1}),
            # a watched attribute added
            f.record("MODIFY", KEYS, {"stage": "x"}, {}),
            # no old image: cannot tell, so notified with changedAttributes null
            f.record("MODIFY", KEYS, {"score": 3}, {"score": 2}, view_type="NEW_IMAGE"),
            # INSERT and REMOVE are not filtered by attributes
            f.record("INSERT", KEYS, {"score": 1}),
            f.record("REMOVE", KEYS, old={"score": 1}),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    messages = topic.received()
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [b["sequenceNumber"] for b in bodies] == f.seqs(records)[1:]
    assert bodies[0]["changedAttributes"] == {
        "score": {"old": 1, "new": 2},
        "status": {"old": "A", "new": "B"},
    }
    assert bodies[1]["changedAttributes"] == {"stage": {"new": "x"}}
    assert bodies[2]["changedAttributes"] is None
    assert bodies[2]["newImage"] == {"job_id": "job-1", "score": 3}
    assert "changedAttributes" not in messages[2]["MessageAttributes"]


def test_redacted_values_are_never_sent(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_REDACT", "ssn,email")
    records = f.secret_changes()
    assert run(records) == {"batchItemFailures": []}
    messages = topic.received()
    assert len(messages) == 3
    for m in messages:
        assert "SECRET" not in m["Body"]
        assert "SECRET" not in json.dumps(m["MessageAttributes"])
    insert, modify, remove = (json.loads(m["Body"]) for m in messages)
    assert insert["keys"] == {"job_id": "job-9"}
    assert insert["newImage"] == {"job_id": "job-9", "status": "B"}
    assert modify["changedAttributes"] == {
        "ssn": {"redacted": True},
        "status": {"old": "A", "new": "B"},
    }
    assert messages[1]["MessageAttributes"]["changedAttributes"]["StringValue"] == (
        '["ssn","status"]'
    )
    assert remove["oldImage"] == {"job_id": "job-9", "status": "A"}


# ----------------------------------------------------------------------------------------
# FIFO topics
# ----------------------------------------------------------------------------------------


@pytest.fixture
def fifo_topic(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Topic:
    t = Topic(fifo=True)
    configure(monkeypatch, t.arn)
    return t


def test_fifo_group_and_deduplication_ids(fifo_topic: Topic) -> None:
    a1 = f.record("INSERT", {"job_id": "a"}, {"v": 1})
    b1 = f.record("INSERT", {"job_id": "b"}, {"v": 1})
    a2 = f.record("MODIFY", {"job_id": "a"}, {"v": 2}, {"v": 1})
    odd = f.record("REMOVE", {"job_id": "b"}, old={"v": 1})
    odd["eventID"] = "not a valid id " + "x" * 200  # spaces, too long
    records = f.sequential([a1, b1, a2, odd])

    assert run(records) == {"batchItemFailures": []}

    messages = fifo_topic.received()
    by_seq = {json.loads(m["Body"])["sequenceNumber"]: m["Attributes"] for m in messages}
    attrs = [by_seq[s] for s in f.seqs(records)]
    group_a = hashlib.sha256(f"{f.TABLE}\x00job_id\x00Sa".encode()).hexdigest()
    group_b = hashlib.sha256(f"{f.TABLE}\x00job_id\x00Sb".encode()).hexdigest()
    assert [a["MessageGroupId"] for a in attrs] == [group_a, group_b, group_a, group_b]
    assert [a["MessageDeduplicationId"] for a in attrs[:3]] == [r["eventID"] for r in records[:3]]
    assert attrs[3]["MessageDeduplicationId"] == hashlib.sha256(odd["eventID"].encode()).hexdigest()


def test_fifo_redelivery_within_the_window_is_deduplicated(fifo_topic: Topic) -> None:
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(3)])
    run(records)
    run(records)  # the same batch again (e.g. after a timeout)
    assert len(fifo_topic.calls) == 2
    assert len(fifo_topic.received()) == 3


# ----------------------------------------------------------------------------------------
# Size limits and batching
# ----------------------------------------------------------------------------------------


def test_large_item_is_sent_without_images(topic: Topic) -> None:
    big = "x" * 400_000
    records = f.sequential(
        [
            f.record("INSERT", KEYS, {"doc": big, "status": "A"}),
            f.record("MODIFY", KEYS, {"doc": big + "y", "status": "B"}, {"doc": big}),
            f.record("INSERT", {"job_id": "small"}, {"status": "A"}),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    messages = topic.received()
    insert, modify, small = (json.loads(m["Body"]) for m in messages)
    assert insert["imagesOmitted"] is True and insert["newImage"] is None
    assert insert["keys"] == KEYS and insert["eventID"] == records[0]["eventID"]
    assert list(insert) == [*f.CHANGE_FIELDS, "newImage", "imagesOmitted"]
    assert modify["imagesOmitted"] is True and modify["newImage"] is None
    assert modify["changedAttributes"] == {"doc": {"omitted": True}, "status": {"omitted": True}}
    assert messages[1]["MessageAttributes"]["changedAttributes"]["StringValue"] == (
        '["doc","status"]'
    )
    assert small["imagesOmitted"] is False and small["newImage"]["status"] == "A"
    for call in topic.calls:
        assert sum(entry_bytes(e) for e in call) <= MAX_MESSAGE_BYTES


def test_at_most_ten_entries_per_call(topic: Topic) -> None:
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(25)])
    assert run(records) == {"batchItemFailures": []}
    calls = topic.in_order()
    assert [len(c) for c in calls] == [10, 10, 5]
    assert [[e["Id"] for e in c] for c in calls][1] == [str(i) for i in range(10, 20)]
    assert sorted(json.loads(m["Body"])["sequenceNumber"] for m in topic.received()) == f.seqs(
        records
    )


def test_at_most_256_kib_per_call(topic: Topic) -> None:
    # Each message ~100 KB: two fit in a call, three do not.
    records = f.sequential(
        [f.record("INSERT", {"job_id": str(i)}, {"doc": "d" * 100_000}) for i in range(7)]
    )
    assert run(records) == {"batchItemFailures": []}
    assert [len(c) for c in topic.in_order()] == [2, 2, 2, 1]
    for call in topic.calls:
        assert sum(entry_bytes(e) for e in call) <= MAX_MESSAGE_BYTES
    bodies = topic.bodies()
    assert len(bodies) == 7 and not any(b["imagesOmitted"] for b in bodies)


# ----------------------------------------------------------------------------------------
# Failures
# ----------------------------------------------------------------------------------------


class FailingEntry:
    """The real moto client, except that one PublishBatch entry is rejected ``times`` times
    (every time when None): it is left out of the request (not published) and reported in
    ``Failed`` with ``code``, as SNS reports it (``senderFault`` as its service model says)."""

    def __init__(
        self, real: Any, entry_id: str, sender_fault: bool, code: str = "", times: int | None = None
    ) -> None:
        self.real = real
        self.entry_id = entry_id
        self.sender_fault = sender_fault
        self.code = code or ("InvalidParameter" if sender_fault else "InternalError")
        self.times = times

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[Any]) -> Any:
        failing = self.times is None or self.times > 0
        kept = [e for e in PublishBatchRequestEntries if e["Id"] != self.entry_id or not failing]
        response = self.real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=kept)
        if len(kept) < len(PublishBatchRequestEntries):
            if self.times is not None:
                self.times -= 1
            response.setdefault("Failed", []).append(
                {
                    "Id": self.entry_id,
                    "Code": self.code,
                    "Message": "injected",
                    "SenderFault": self.sender_fault,
                }
            )
        return response


@pytest.mark.parametrize("code", ["KMSAccessDenied", "InvalidParameter"])
def test_failed_entry_reports_it_and_later_records_and_stops(
    topic: Topic, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code that is not worth retrying now (a key SNS may not use; the message itself):
    the entry and every later record are reported, nothing more is sent (one call at a
    time: no later call was in flight)."""
    one_at_a_time(monkeypatch)
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(25)])
    aws.set_client("sns", FailingEntry(topic.sns, "3", True, code))

    response = run(records)

    # THEN record 3 and every later record are reported; no second call was made
    assert f.reported(response) == f.seqs(records)[3:]
    assert len(topic.calls) == 1
    published = [json.loads(m["Body"])["sequenceNumber"] for m in topic.received()]
    # entries after the failed one in the same call were published (documented duplicates)
    assert published == [s for i, s in enumerate(f.seqs(records)[:10]) if i != 3]


def test_sender_fault_on_the_first_record_raises(topic: Topic) -> None:
    """InvalidParameter: the message itself, a poison record; first in the batch: raise."""
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(3)])
    aws.set_client("sns", FailingEntry(topic.sns, "0", sender_fault=True))
    with pytest.raises(BatchFailed, match="notification"):
        run(records)


def test_poison_record_first_raises_without_publishing(topic: Topic) -> None:
    bad = f.record("INSERT", KEYS, NEW)
    bad["eventName"] = "UPSERT"
    records = f.sequential([bad, f.record("INSERT", KEYS, NEW)])
    with pytest.raises(BatchFailed, match="eventName"):
        run(records)
    assert topic.calls == []


def test_poison_record_in_the_middle(topic: Topic) -> None:
    bad = f.record("INSERT", KEYS, NEW)
    bad["dynamodb"]["NewImage"]["score"] = {"N": "not-a-number"}
    records = f.sequential(
        [f.record("INSERT", KEYS, NEW), f.record("INSERT", KEYS, NEW), bad]
        + [f.record("INSERT", KEYS, NEW) for _ in range(3)]
    )
    response = run(records)
    assert f.reported(response) == f.seqs(records)[2:]
    assert [b["sequenceNumber"] for b in topic.bodies()] == f.seqs(records)[:2]


def test_sns_outage_is_transient(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = topic.arn.replace(":changes", ":no-such-topic")
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", missing)
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(3)])

    # A transient failure of the first record is reported (no raise: nothing to bisect)
    response = run(records)

    assert f.reported(response) == f.seqs(records)
    assert len(topic.calls) == 1


def test_sns_outage_outcome(topic: Topic) -> None:
    proc = notification.NotificationProcessor(
        topic.arn.replace(":changes", ":gone"), lambda: topic.sns
    )
    records = parse_event(f.event([f.record("INSERT", KEYS, NEW)]))
    outcome = proc.process(records, Batch(records, f.STREAM_ARN, Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "NotFound" in outcome.reason


def test_whole_call_error_after_a_successful_call(
    topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_at_a_time(monkeypatch)

    class BrokenSecondCall:
        def __init__(self) -> None:
            self.n = 0

        def publish_batch(self, **kwargs: Any) -> Any:
            self.n += 1
            if self.n == 2:
                raise ClientError(
                    {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PublishBatch"
                )
            return topic.sns.publish_batch(**kwargs)

    aws.set_client("sns", BrokenSecondCall())
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(25)])
    response = run(records)
    assert f.reported(response) == f.seqs(records)[10:]
    assert len(topic.calls) == 1  # the hook is on the real client: the 2nd call never reached it
    assert len(topic.received()) == 10


def test_budget_running_out_between_calls(topic: Topic) -> None:
    # GIVEN a clock that jumps past the deadline once the first call is made
    now = [0.0]
    topic.sns.meta.events.register(
        "before-parameter-build.sns.PublishBatch", lambda **_: now.__setitem__(0, 100.0)
    )
    budget = Budget(f.Context(60_000), clock=lambda: now[0])
    raw = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(15)])
    records = parse_event(f.event(raw))
    proc = notification.build({"NOTIFY_TOPIC_ARN": topic.arn, "NOTIFY_PUBLISH_CONCURRENCY": "1"})

    outcome = proc.process(records, Batch(records, f.STREAM_ARN, budget))

    assert (outcome.done, outcome.failure) == (10, Failure.TIME)
    assert len(topic.calls) == 1 and len(topic.received()) == 10


def test_budget_gone_before_the_first_call_raises(topic: Topic) -> None:
    records = f.sequential([f.record("INSERT", KEYS, NEW)])
    with pytest.raises(BatchFailed):
        run(records, remaining_ms=100)
    assert topic.calls == []


def test_nothing_qualifies_makes_no_call(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_EVENTS", "REMOVE")
    assert run(f.sequential([f.record("INSERT", KEYS, NEW)])) == {"batchItemFailures": []}
    assert topic.calls == []


# ----------------------------------------------------------------------------------------
# Concurrent calls
# ----------------------------------------------------------------------------------------


class Recording:
    """The real client, with every PublishBatch call noted: ``started`` lists each call's
    entry Ids in the order the calls started, ``clashes`` counts calls that started while a
    call carrying one of their message groups was in flight. ``meet``: Ids whose calls
    each wait (at most 10 s) until all of them are in flight, so that the test cannot pass
    with one call at a time. ``fail``: entry Id -> code it is rejected with (left out of the
    request, reported in Failed, as ``FailingEntry`` does); ``after``: entry Id -> Id of another
    call's entry whose call must have returned before this call's answer comes back."""

    def __init__(
        self,
        real: Any,
        *,
        meet: Collection[str] = (),
        fail: dict[str, str] | None = None,
        after: dict[str, str] | None = None,
    ) -> None:
        self.real = real
        self.meet = threading.Barrier(len(meet), timeout=10) if meet else None
        self.meet_ids = set(meet)
        self.fail = fail or {}
        self.after = after or {}
        self.returned: dict[str, threading.Event] = {}
        for waited in self.after.values():
            self.returned[waited] = threading.Event()
        self.started: list[list[str]] = []
        self.clashes = 0
        self._busy: Counter[str] = Counter()
        self._lock = threading.Lock()

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[Any]) -> Any:
        entries = PublishBatchRequestEntries
        ids = [e["Id"] for e in entries]
        groups = {e["MessageGroupId"] for e in entries if "MessageGroupId" in e}
        with self._lock:
            self.started.append(ids)
            if any(self._busy[g] for g in groups):
                self.clashes += 1
            self._busy.update(groups)
        try:
            if self.meet is not None and self.meet_ids & set(ids):
                self.meet.wait()
            kept = [e for e in entries if e["Id"] not in self.fail]
            response = self.real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=kept)
            for i in ids:
                if i in self.after:
                    self.returned[self.after[i]].wait(10)
            response.setdefault("Failed", []).extend(
                {"Id": i, "Code": self.fail[i], "Message": "injected", "SenderFault": True}
                for i in ids
                if i in self.fail
            )
            return response
        finally:
            with self._lock:
                self._busy.subtract(groups)
            for i in ids:
                if i in self.returned:
                    self.returned[i].set()


@pytest.mark.parametrize(("setting", "most"), [("", 5), ("2", 2), ("1", 1)])
def test_calls_overlap_up_to_the_setting(
    topic: Topic, monkeypatch: pytest.MonkeyPatch, setting: str, most: int
) -> None:
    """50 messages, 5 calls: in flight at once as many as NOTIFY_PUBLISH_CONCURRENCY allows
    (default 10, botocore's connection pool), every message published once."""
    monkeypatch.setenv("NOTIFY_PUBLISH_CONCURRENCY", setting)
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(50)])
    with InFlight(topic.sns, "PublishBatch", meet=most) as flight:
        assert run(records) == {"batchItemFailures": []}
    assert (flight.most, flight.attempts) == (most, 5)
    assert sorted(b["sequenceNumber"] for b in topic.bodies()) == f.seqs(records)


def test_a_failed_call_in_the_middle_while_later_calls_succeed(topic: Topic) -> None:
    """Three calls in flight; the second one's entry 13 is rejected for good, and its
    answer comes back only after the third call succeeded. Reported: record 13 and every
    later one (everything before it was published); the third call's messages were
    published too (the documented duplicates of a redelivery)."""
    records = f.sequential([f.record("INSERT", {"job_id": str(i)}, {"v": i}) for i in range(25)])
    calls = Recording(topic.sns, fail={"13": "KMSAccessDenied"}, after={"13": "20"})
    aws.set_client("sns", calls)
    response = run(records)
    assert f.reported(response) == f.seqs(records)[13:]
    assert sorted(int(c[0]) for c in calls.started) == [0, 10, 20]
    published = sorted(b["sequenceNumber"] for b in topic.bodies())
    assert published == [s for i, s in enumerate(f.seqs(records)) if i != 13]


def fifo_records() -> list[dict[str, Any]]:
    """40 changes, 4 calls of 10: item 'a' in the first (record 5) and third (record 25)
    calls; every other change is of an item of its own."""
    items = [f"b{i}" for i in range(10)] + [f"c{i}" for i in range(10)]
    items += [f"d{i}" for i in range(10)] + [f"e{i}" for i in range(10)]
    items[5] = items[25] = "a"
    return f.sequential(
        [f.record("INSERT", {"job_id": item}, {"v": i}) for i, item in enumerate(items)]
    )


def test_fifo_calls_of_one_group_never_overlap_and_keep_their_order(fifo_topic: Topic) -> None:
    """On a FIFO topic calls of different message groups overlap (the first two wait for
    each other), but a call sharing a group with an earlier one waits for it: the third
    call (item 'a', like the first) never starts while the first is in flight, and every
    group's messages arrive in record order."""
    records = fifo_records()
    calls = Recording(fifo_topic.sns, meet={"0", "10"})
    aws.set_client("sns", calls)
    assert run(records) == {"batchItemFailures": []}
    assert calls.clashes == 0
    starts = [int(c[0]) for c in calls.started]
    assert sorted(starts) == [0, 10, 20, 30] and starts.index(0) < starts.index(20)
    arrived: dict[str, list[int]] = {}
    for body in fifo_topic.bodies():
        arrived.setdefault(body["keys"]["job_id"], []).append(int(body["sequenceNumber"]))
    assert arrived["a"] == [int(f.seqs(records)[5]), int(f.seqs(records)[25])]
    assert sum(len(v) for v in arrived.values()) == 40


def test_fifo_a_failed_call_stops_later_calls_of_its_groups(fifo_topic: Topic) -> None:
    """The first call's entry of item 'a' fails for good: record 5 and every later one
    are reported, and the third call (item 'a' again) is never made, so no message of
    the group can overtake the failed one."""
    records = fifo_records()
    calls = Recording(fifo_topic.sns, fail={"5": "KMSAccessDenied"})
    aws.set_client("sns", calls)
    assert f.reported(run(records)) == f.seqs(records)[5:]
    assert calls.clashes == 0
    assert all(int(c[0]) != 20 for c in calls.started)
    groups = {b["keys"]["job_id"] for b in fifo_topic.bodies()}
    assert "a" not in groups and {f"b{i}" for i in range(10) if i != 5} <= groups


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable", "expects"),
    [
        ({}, "NOTIFY_TOPIC_ARN", "ARN of the SNS topic"),
        (
            {"NOTIFY_TOPIC_ARN": "arn:aws:sqs:us-east-1:123456789012:q"},
            "NOTIFY_TOPIC_ARN",
            "SNS topic ARN",
        ),
        ({"NOTIFY_TOPIC_ARN": "my-topic"}, "NOTIFY_TOPIC_ARN", "SNS topic ARN"),
        (
            {"NOTIFY_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t", "NOTIFY_EVENTS": "UPSERT"},
            "NOTIFY_EVENTS",
            "INSERT,MODIFY,REMOVE",
        ),
    ],
)
def test_config_errors_name_the_variable(
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    variable: str,
    expects: str,
) -> None:
    for name in ("NOTIFY_TOPIC_ARN", "NOTIFY_EVENTS", "NOTIFY_ATTRIBUTES", "NOTIFY_REDACT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=variable) as info:
        run([f.record("INSERT", KEYS, NEW)])
    assert expects in str(info.value)
