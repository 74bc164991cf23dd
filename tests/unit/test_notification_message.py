"""Message building of the notification processor (no AWS)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from handlers.batch import Batch, Budget, Failure
from handlers.notification import MAX_MESSAGE_BYTES, NotificationProcessor, build
from handlers.stream import EventName, StreamRecord, parse_event
from tests import factories as f

ARN = "arn:aws:sns:us-east-1:123456789012:changes"


def no_client() -> Any:
    raise AssertionError("no publish call expected")


def one(raw: dict[str, Any]) -> StreamRecord:
    return parse_event(f.event([raw]))[0]


def modify(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A MODIFY record with the given typed (Lambda-form) attribute values."""
    rec = f.record("MODIFY", {"pk": "k"}, {}, {})
    rec["dynamodb"]["OldImage"] = {"pk": {"S": "k"}, **old}
    rec["dynamodb"]["NewImage"] = {"pk": {"S": "k"}, **new}
    return rec


def body_of(proc: NotificationProcessor, raw: dict[str, Any]) -> dict[str, Any] | None:
    built = proc.message(one(raw))
    return None if built is None else json.loads(built[0]["Message"], parse_float=Decimal)


def size_of(entry: dict[str, Any]) -> int:
    size = len(entry["Message"].encode())
    for name, value in entry["MessageAttributes"].items():
        size += len(name.encode()) + len(value["DataType"]) + len(value["StringValue"].encode())
    return size


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"n": {"N": "1.0"}}, {"n": {"N": "1"}}),
        ({"n": {"N": "1E+2"}}, {"n": {"N": "100"}}),
        ({"s": {"SS": ["a", "b", "c"]}}, {"s": {"SS": ["c", "a", "b"]}}),
        ({"s": {"NS": ["1", "2.50"]}}, {"s": {"NS": ["2.5", "1.00"]}}),
        ({"s": {"BS": ["AA==", "AQ=="]}}, {"s": {"BS": ["AQ==", "AA=="]}}),
        (
            {"m": {"M": {"a": {"N": "1"}, "b": {"S": "x"}}}},
            {"m": {"M": {"b": {"S": "x"}, "a": {"N": "1.0"}}}},
        ),
    ],
)
def test_equal_decoded_values_are_not_changes(old: dict[str, Any], new: dict[str, Any]) -> None:
    proc = NotificationProcessor(ARN, no_client)
    assert proc.message(one(modify(old, new))) is None


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ({"n": {"N": "1"}}, {"n": {"BOOL": True}}, {"n": {"old": 1, "new": True}}),
        ({"n": {"N": "0"}}, {"n": {"BOOL": False}}, {"n": {"old": 0, "new": False}}),
        (
            {"l": {"L": [{"N": "1"}, {"N": "2"}]}},
            {"l": {"L": [{"N": "2"}, {"N": "1"}]}},
            {"l": {"old": [1, 2], "new": [2, 1]}},
        ),
        ({}, {"x": {"NULL": True}}, {"x": {"new": None}}),
        ({"x": {"NULL": True}}, {}, {"x": {"old": None}}),
        ({"x": {"S": "1"}}, {"x": {"N": "1"}}, {"x": {"old": "1", "new": 1}}),
        (
            {"m": {"M": {"a": {"N": "1"}}}},
            {"m": {"M": {"a": {"BOOL": True}}}},
            {"m": {"old": {"a": 1}, "new": {"a": True}}},
        ),
        ({"s": {"NS": ["1"]}}, {"s": {"NS": ["1", "2"]}}, {"s": {"old": [1], "new": [1, 2]}}),
    ],
)
def test_real_changes(old: dict[str, Any], new: dict[str, Any], changed: Any) -> None:
    proc = NotificationProcessor(ARN, no_client)
    body = body_of(proc, modify(old, new))
    assert body is not None and body["changedAttributes"] == changed


def test_changed_attributes_are_sorted_and_exact() -> None:
    proc = NotificationProcessor(ARN, no_client)
    rec = modify(
        {"zeta": {"N": "1"}, "alpha": {"N": "0.10"}},
        {"alpha": {"N": "12345678901234567890123456789012345678"}, "beta": {"B": "AP8="}},
    )
    entry, _ = proc.message(one(rec)) or ({}, 0)
    text = entry["Message"]
    assert (
        '"changedAttributes":{"alpha":{"old":0.10,"new":12345678901234567890123456789012345678},'
        '"beta":{"new":"AP8="},"zeta":{"old":1}}' in text
    )
    assert entry["MessageAttributes"]["changedAttributes"] == {
        "DataType": "String.Array",
        "StringValue": '["alpha","beta","zeta"]',
    }


def test_watched_attributes_only_gate_modify() -> None:
    proc = NotificationProcessor(ARN, no_client, attributes=["status"])
    assert proc.message(one(modify({"n": {"N": "1"}}, {"n": {"N": "2"}}))) is None
    body = body_of(proc, modify({"status": {"S": "A"}}, {"status": {"S": "B"}, "n": {"N": "2"}}))
    assert body is not None
    assert body["changedAttributes"] == {"n": {"new": 2}, "status": {"old": "A", "new": "B"}}
    assert proc.message(one(f.record("INSERT", {"pk": "k"}, {"n": 1}))) is not None


def test_events_filter() -> None:
    proc = NotificationProcessor(ARN, no_client, events=[EventName.REMOVE])
    assert proc.message(one(f.record("INSERT", {"pk": "k"}, {"n": 1}))) is None
    assert proc.message(one(f.record("REMOVE", {"pk": "k"}, old={"n": 1}))) is not None


def test_size_is_bytes_of_body_and_attributes() -> None:
    proc = NotificationProcessor(ARN, no_client)
    rec = modify({"s": {"S": "é"}}, {"s": {"S": "日本語 ✓"}})
    entry, size = proc.message(one(rec)) or ({}, 0)
    assert size == size_of(entry)
    assert size > len(entry["Message"]) + 17  # multibyte text counted in bytes


def _insert_of_size(proc: NotificationProcessor, target: int) -> tuple[dict[str, Any], int]:
    """An INSERT whose full message is exactly ``target`` bytes."""
    probe = f.record("INSERT", {"pk": "k"}, {"doc": ""})
    _, size = proc.message(one(probe)) or ({}, 0)
    rec = f.record("INSERT", {"pk": "k"}, {"doc": "d" * (target - size)})
    rec["eventID"] = probe["eventID"]
    rec["dynamodb"]["SequenceNumber"] = probe["dynamodb"]["SequenceNumber"]
    built = proc.message(one(rec))
    assert built is not None
    return built


def test_message_at_the_limit_keeps_its_image_one_byte_more_does_not() -> None:
    proc = NotificationProcessor(ARN, no_client)
    entry, size = _insert_of_size(proc, MAX_MESSAGE_BYTES)
    assert size == MAX_MESSAGE_BYTES == size_of(entry)
    assert json.loads(entry["Message"])["imagesOmitted"] is False
    entry, size = _insert_of_size(proc, MAX_MESSAGE_BYTES + 1)
    body = json.loads(entry["Message"])
    assert body["imagesOmitted"] is True and body["newImage"] is None
    assert size == size_of(entry) < 1000


def test_redacted_key_and_changed_value() -> None:
    proc = NotificationProcessor(ARN, no_client, redact=["pin", "secret"])
    rec = f.record(
        "MODIFY", {"pk": "k", "pin": "1234"}, {"secret": "NEW-VALUE"}, {"secret": "OLD-VALUE"}
    )
    entry, _ = proc.message(one(rec)) or ({}, 0)
    body = json.loads(entry["Message"])
    assert body["keys"] == {"pk": "k"}
    assert body["changedAttributes"] == {"secret": {"redacted": True}}
    assert body["newImage"] == {"pk": "k"}
    for value in ("1234", "NEW-VALUE", "OLD-VALUE"):
        assert value not in entry["Message"]


def test_fifo_ids() -> None:
    fifo = NotificationProcessor(ARN + ".fifo", no_client)
    a = f.record("INSERT", {"pk": "k", "n": Decimal(1)}, {})
    b = f.record("INSERT", {"pk": "k", "n": Decimal(1)}, {})
    b["dynamodb"]["Keys"] = {"n": {"N": "1.00"}, "pk": {"S": "k"}}  # other order and format
    entry_a, _ = fifo.message(one(a)) or ({}, 0)
    entry_b, _ = fifo.message(one(b)) or ({}, 0)
    assert entry_a["MessageGroupId"] == entry_b["MessageGroupId"]
    expected = hashlib.sha256(f"{f.TABLE}\x00n\x00N1\x00pk\x00Sk".encode()).hexdigest()
    assert entry_a["MessageGroupId"] == expected
    assert entry_a["MessageDeduplicationId"] == a["eventID"]

    other_table = f.record(
        "INSERT",
        {"pk": "k", "n": Decimal(1)},
        {},
        stream_arn=f.STREAM_ARN.replace(f.TABLE, "other"),
    )
    entry_c, _ = fifo.message(one(other_table)) or ({}, 0)
    assert entry_c["MessageGroupId"] != expected

    no_id = f.record("INSERT", {"pk": "k"}, {})
    no_id["eventID"] = ""
    entry_d, _ = fifo.message(one(no_id)) or ({}, 0)
    source = f"{f.STREAM_ARN}#{no_id['dynamodb']['SequenceNumber']}"
    assert entry_d["MessageDeduplicationId"] == hashlib.sha256(source.encode()).hexdigest()

    standard = NotificationProcessor(ARN, no_client)
    entry_e, _ = standard.message(one(a)) or ({}, 0)
    assert "MessageGroupId" not in entry_e and "MessageDeduplicationId" not in entry_e


def test_invalid_text_is_poison_without_a_call() -> None:
    rec = f.record("INSERT", {"pk": "k"}, {})
    rec["dynamodb"]["NewImage"]["bad"] = {"S": "\udc80"}  # a lone surrogate: not UTF-8
    records = parse_event(f.event([rec]))
    proc = NotificationProcessor(ARN, no_client)
    outcome = proc.process(records, Batch(records, f.STREAM_ARN, Budget(None)))
    assert (outcome.done, outcome.failure) == (0, Failure.POISON)
    assert "UTF-8" in outcome.reason


def test_build_defaults_and_lists() -> None:
    proc = build({"NOTIFY_TOPIC_ARN": ARN + ".fifo"})
    assert proc.name == "notification"
    assert proc.fifo and proc.events == frozenset(EventName)
    assert proc.attributes == () and proc.redact == frozenset()
    proc = build(
        {
            "NOTIFY_TOPIC_ARN": "arn:aws-cn:sns:cn-north-1:123456789012:x",
            "NOTIFY_EVENTS": " MODIFY ,REMOVE",
            "NOTIFY_ATTRIBUTES": "status, stage",
            "NOTIFY_REDACT": "ssn",
        }
    )
    assert not proc.fifo
    assert proc.events == {EventName.MODIFY, EventName.REMOVE}
    assert proc.attributes == ("status", "stage") and proc.redact == {"ssn"}


class Replies:
    """Stands in for SNS only to produce what moto cannot: a given PublishBatch reply."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls = 0

    def publish_batch(self, **kwargs: Any) -> Any:
        self.calls += 1
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def _three() -> list[StreamRecord]:
    return parse_event(
        f.event(f.sequential([f.record("INSERT", {"pk": str(i)}, {}) for i in range(3)]))
    )


def test_entry_missing_from_the_reply_is_not_taken_as_published() -> None:
    records = _three()
    client = Replies({"Successful": [{"Id": "0", "MessageId": "m"}, {"Id": "2"}], "Failed": []})
    proc = NotificationProcessor(ARN, lambda: client)
    outcome = proc.process(records, Batch(records, f.STREAM_ARN, Budget(None)))
    assert (outcome.done, outcome.failure) == (1, Failure.TRANSIENT)


def test_connection_error_is_transient() -> None:
    from botocore.exceptions import EndpointConnectionError

    records = _three()
    client = Replies(EndpointConnectionError(endpoint_url="http://sns"))
    proc = NotificationProcessor(ARN, lambda: client)
    outcome = proc.process(records, Batch(records, f.STREAM_ARN, Budget(None)))
    assert (outcome.done, outcome.failure, client.calls) == (0, Failure.TRANSIENT, 1)
    assert "http://sns" in outcome.reason


def test_topic_in_another_region_is_a_config_error() -> None:
    from handlers.config import ConfigError

    env = {"NOTIFY_TOPIC_ARN": ARN.replace("us-east-1", "eu-west-1"), "AWS_REGION": "us-east-1"}
    with pytest.raises(ConfigError, match=r"NOTIFY_TOPIC_ARN .*eu-west-1.*us-east-1"):
        build(env)
    assert build({**env, "AWS_REGION": "eu-west-1"}).topic_arn == env["NOTIFY_TOPIC_ARN"]
