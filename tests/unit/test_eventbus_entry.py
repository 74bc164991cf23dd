"""Entry building of the event-bus processor (no AWS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.codec import MalformedValue, RecordError
from handlers.eventbus import (
    DEFAULT_SOURCE_PREFIX,
    MAX_REQUEST_BYTES,
    EventBusProcessor,
    build,
    entry_size,
)
from handlers.notification import NotificationProcessor
from handlers.stream import EventName, StreamRecord, parse_event
from tests import factories as f

TABLE_ARN = f.STREAM_ARN.partition("/stream/")[0]


def no_client() -> Any:
    raise AssertionError("no PutEvents call expected")


def one(raw: dict[str, Any]) -> StreamRecord:
    return parse_event(f.event([raw]))[0]


def entry_of(proc: EventBusProcessor, raw: dict[str, Any]) -> tuple[dict[str, Any], int]:
    built = proc.entry(one(raw))
    assert built is not None
    return built


def test_entry_fields_and_size_as_eventbridge_counts_them() -> None:
    proc = EventBusProcessor("bus", no_client)
    raw = f.record(
        "MODIFY", {"id": "é-1"}, {"name": "Zoë ✓"}, {"name": "Zoe"}, created=1_767_225_601
    )
    entry, size = entry_of(proc, raw)
    assert entry["Source"] == DEFAULT_SOURCE_PREFIX + f.TABLE
    assert entry["DetailType"] == "DynamoDB MODIFY"
    assert entry["Resources"] == [TABLE_ARN]
    assert entry["EventBusName"] == "bus"
    assert entry["Time"] == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    # 14 for Time plus UTF-8 bytes of Source, DetailType, Detail and each resource
    expected = (
        14
        + len(entry["Source"])
        + len("DynamoDB MODIFY")
        + len(entry["Detail"].encode("utf-8"))
        + len(TABLE_ARN)
    )
    assert size == expected == entry_size(entry)
    assert len(entry["Detail"].encode()) > len(entry["Detail"])  # non-ASCII counted in bytes


@pytest.mark.parametrize("view_type", f.VIEW_TYPES)
@pytest.mark.parametrize("event_name", f.EVENT_NAMES)
def test_detail_shares_the_notification_body(view_type: str, event_name: str) -> None:
    # The common part (up to and including changedAttributes) is byte for byte the same text
    raw = f.record(event_name, {"k": "1"}, {"a": 1, "s": "x"}, {"a": 2}, view_type=view_type)
    for redact in ((), ("s",)):
        detail = entry_of(EventBusProcessor("b", no_client, redact=redact), raw)[0]["Detail"]
        built = NotificationProcessor(
            "arn:aws:sns:us-east-1:123456789012:t", no_client, redact=redact
        ).message(one(raw))
        assert built is not None
        body = built[0]["Message"]
        cut = body.index(',"newImage":' if event_name != "REMOVE" else ',"oldImage":')
        assert detail.startswith(body[:cut] + ',"newImage":')


def test_exactly_at_the_limit_is_sent_whole_one_byte_more_is_degraded() -> None:
    proc = EventBusProcessor("b", no_client)

    def sized(n: int) -> tuple[dict[str, Any], int]:
        return entry_of(proc, f.record("INSERT", {"k": "1"}, {"doc": "x" * n}, seq=f.BASE_SEQ))

    _, base = sized(0)
    exact, size = sized(MAX_REQUEST_BYTES - base)
    assert size == MAX_REQUEST_BYTES
    assert json.loads(exact["Detail"])["imagesOmitted"] is False
    over, size = sized(MAX_REQUEST_BYTES - base + 1)
    detail = json.loads(over["Detail"])
    assert detail["imagesOmitted"] is True and detail["newImage"] is None
    assert detail["keys"] == {"k": "1"} and size == entry_size(over) < 1_000


def test_modify_without_a_decoded_change_is_skipped_keys_only_is_not() -> None:
    proc = EventBusProcessor("b", no_client)
    same = f.record("MODIFY", {"k": "1"}, {"n": 1}, {"n": 1})
    same["dynamodb"]["OldImage"]["n"] = {"N": "1.0"}
    assert proc.entry(one(same)) is None
    keys_only = f.record("MODIFY", {"k": "1"}, view_type="KEYS_ONLY")
    detail = json.loads(entry_of(proc, keys_only)[0]["Detail"])
    assert detail["changedAttributes"] is None
    assert detail["newImage"] is None and detail["oldImage"] is None


def test_event_names_not_selected_make_no_entry() -> None:
    proc = EventBusProcessor("b", no_client, events=[EventName.REMOVE])
    assert proc.entry(one(f.record("INSERT"))) is None
    assert proc.entry(one(f.record("REMOVE"))) is not None


def test_text_that_is_not_utf8_is_a_record_error() -> None:
    raw = f.record("INSERT", {"k": "1"}, {"s": "ok"})
    raw["dynamodb"]["NewImage"]["s"] = {"S": "\ud800"}  # a lone surrogate
    with pytest.raises(RecordError, match="UTF-8"):
        EventBusProcessor("b", no_client).entry(one(raw))


def test_build_reads_the_contract_variables() -> None:
    proc = build(
        {
            "EVENTBUS_NAME": "arn:aws:events:us-east-1:123456789012:event-bus/orders",
            "EVENTBUS_SOURCE": "hiring.apps",
            "EVENTBUS_EVENTS": "INSERT",
            "EVENTBUS_REDACT": "ssn",
            "AWS_REGION": "us-east-1",
        }
    )
    assert proc.bus == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    assert proc.source == "hiring.apps"
    assert proc.events == {EventName.INSERT}
    assert proc.redact == {"ssn"}
    assert build({"EVENTBUS_NAME": "default"}).events == set(EventName)
    assert build({"EVENTBUS_NAME": "default"}).name == "eventbus"


CORPUS = json.loads(
    (Path(__file__).parent.parent / "events" / "bad_input.json").read_text(encoding="utf-8")
)["values"]


# The corpus's whole numbers beyond int64 (PutEvents' limit for a JSON integer), as the bus
# carries them; every other value is the corpus's JSON text.
ON_THE_BUS = {
    "38-digit integer": '{"$number":"12345678901234567890123456789012345678"}',
    "largest number 9.99E+125 (38 digits)": (
        '{"$number":"9.9999999999999999999999999999999999999E+125"}'
    ),
    "1E+100 as DynamoDB writes it (101 digits, trailing zeros)": '{"$number":"1' + "0" * 100 + '"}',
}


def test_bad_input_corpus_values() -> None:
    """Each bad value of tests/events/bad_input.json fails its record with the corpus's exact
    message (it names the path, never the value); each unusual valid value is published with
    the corpus's exact JSON text, in the new image."""
    proc = EventBusProcessor("b", no_client)
    for case in CORPUS:
        raw = f.record("INSERT", {"pk": "item-1"}, seq=f.BASE_SEQ)
        raw["dynamodb"]["NewImage"]["value"] = case["value"]
        if case.get("error"):
            with pytest.raises(RecordError) as info:
                proc.entry(one(raw))
            assert str(info.value) == case["error"], case["case"]
        else:
            detail = entry_of(proc, raw)[0]["Detail"]
            # Whole numbers outside int64 are written {"$number": "<text>"} on the bus
            expected = ON_THE_BUS.get(case["case"], case["json"])
            assert '"newImage":{"pk":"item-1","value":' + expected + "}" in detail, case["case"]


def test_eventbus_numbers_is_number_or_string() -> None:
    from handlers.config import ConfigError
    from handlers.eventbus import build

    env = {"EVENTBUS_NAME": "changes"}
    assert build(env).numbers == "number"
    assert build({**env, "EVENTBUS_NUMBERS": "string"}).numbers == "string"
    with pytest.raises(ConfigError, match="EVENTBUS_NUMBERS is 'strings': expected 'number'"):
        build({**env, "EVENTBUS_NUMBERS": "strings"})


def test_number_on_the_bus_at_the_int64_bounds() -> None:
    from handlers.eventbus import bus_number, string_number

    for inside in ("-9223372036854775808", "9223372036854775807", "0", "-1.5", "1E+3", "1E-130"):
        assert bus_number(inside) == inside
    for outside in ("-9223372036854775809", "9223372036854775808", "1E+40", "1.0E+19"):
        assert bus_number(outside) == '{"$number":"' + outside + '"}'
    assert bus_number("123456789012345678901234567890.5") == "123456789012345678901234567890.5"
    assert string_number("9223372036854775808") == '"9223372036854775808"'
    with pytest.raises(MalformedValue):
        bus_number("NaN")
