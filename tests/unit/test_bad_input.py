"""The bad-input corpus (tests/events/bad_input.json): each case has one exact outcome.

Bad values fail their own record with a message naming the attribute path; valid but unusual
values decode and transcode exactly. Through ``run_batch`` a bad record becomes a batch item
failure (itself and every later record), a bad FIRST record makes the handler raise (so that
Lambda bisects), and a record without a usable sequence number fails the batch as a whole.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.batch import Batch, BatchFailed, Failure, Outcome, run_batch
from handlers.codec import (
    MalformedValue,
    RecordError,
    deserialize,
    deserialize_image,
    image_to_json,
    to_json,
)
from handlers.stream import StreamRecord, parse_event
from tests import factories
from tests.factories import BASE_SEQ, STREAM_ARN, Context

CORPUS = json.loads(
    (Path(__file__).parent.parent / "events" / "bad_input.json").read_text(encoding="utf-8")
)
PK = {"pk": {"S": "item-1"}}


# -- helpers ---------------------------------------------------------------------------


def json_view(value: Any) -> Any:
    """What ``to_json`` must produce for a decoded value, as json.loads(Decimal) returns it."""
    if isinstance(value, dict):
        return {k: json_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_view(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, (set, frozenset)):
        members = sorted(value)  # numbers numerically, bytes bytewise, strings by code point
        return [json_view(m) for m in members]
    return value


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def nest(tag: str, count: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(count):
        value = {"M": {"k": value}} if tag == "M" else {"L": [value]}
    return value


@functools.cache
def large_image(size: int) -> dict[str, Any]:
    """About ``size`` bytes of item: long unicode strings, 38-digit numbers, a big binary,
    a long list and a wide map (deterministic)."""
    rng = random.Random(400)
    image: dict[str, Any] = dict(PK)
    blob = bytes(rng.getrandbits(8) for _ in range(size // 4))
    image["blob"] = {"B": base64.b64encode(blob).decode()}
    image["numbers"] = {"L": [{"N": str(rng.randrange(10**37, 10**38))} for _ in range(1000)]}
    image["wide"] = {"M": {f"field.{i}": {"S": f"välue {i}"} for i in range(1000)}}
    chunk = {"S": "Zoë 🎉 ünïcödé and ascii text. " * 100}
    chunk_size = len(json.dumps(chunk, ensure_ascii=False).encode())
    total = len(json.dumps(image, ensure_ascii=False).encode())
    i = 0
    while total < size:
        image[f"attr_{i}"] = chunk
        total += chunk_size + len(f'"attr_{i}": , ')
        i += 1
    return image


def generated_value(spec: dict[str, Any]) -> dict[str, Any]:
    """NewImage for a 'generated' corpus case."""
    if "nest" in spec:
        return {**PK, "value": nest(spec["nest"], spec["count"])}
    return large_image(spec["large_item_bytes"])


def stream_record(new_image: Any, index: int, event_id: str) -> dict[str, Any]:
    rec = factories.record("INSERT", {"pk": "item-1"}, seq=BASE_SEQ + index * 100)
    rec["eventID"] = event_id
    rec["dynamodb"]["NewImage"] = new_image
    return rec


def batch_of_three(bad: Any, at: int) -> dict[str, Any]:
    """Three records; the one at ``at`` is ``bad`` (a record dict, or anything else)."""
    records: list[Any] = []
    for i in range(3):
        if i == at:
            records.append(bad)
        else:
            records.append(stream_record({**PK, "n": {"N": str(i)}}, i, f"good-{i}"))
    return {"Records": records}


class DecodingProcessor:
    """A trivial processor: check the record, decode and transcode its images."""

    name = "decode"

    def __init__(self) -> None:
        self.applied: list[str] = []

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        for i, record in enumerate(records):
            try:
                record.check()
                record.keys  # noqa: B018 - decodes
                record.new_image  # noqa: B018
                record.old_image  # noqa: B018
                image_to_json(record.raw_keys, "Keys")
                for raw, name in (
                    (record.raw_new_image, "NewImage"),
                    (record.raw_old_image, "OldImage"),
                ):
                    if raw is not None:
                        image_to_json(raw, name)
            except RecordError as exc:
                return Outcome(done=i, failure=Failure.POISON, reason=str(exc))
            self.applied.append(record.event_id)
        return Outcome(done=len(records))


def failure_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "record failed"]


def run(event: dict[str, Any]) -> tuple[dict[str, Any], DecodingProcessor]:
    processor = DecodingProcessor()
    return run_batch(event, Context(), [processor], None), processor


def ids(section: str) -> list[str]:
    return [case["case"] for case in CORPUS[section]]


def expected_failure_response(event: dict[str, Any]) -> dict[str, Any]:
    seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"][1:]]
    return {"batchItemFailures": [{"itemIdentifier": s} for s in seqs]}


# -- the corpus itself -------------------------------------------------------------------


def test_corpus_covers_what_the_issue_lists() -> None:
    cases = " | ".join(
        c["case"] for section in ("values", "generated", "records") for c in CORPUS[section]
    )
    for needle in (
        "dangling exponent", "word", "digit separators", "leading space", "NaN", "Infinity",
        "39 significant digits", "1E+126", "1E-131", "unknown type tag", "two type tags",
        "empty string set", "empty number set", "empty binary set", "not base64",
        "binary set with an invalid member", "33 levels", "32 levels", "missing dynamodb block",
        "wrong eventSource", "400 KB", "SequenceNumber",
    ):  # fmt: skip
        assert needle in cases, needle
    ok = " | ".join(c["case"] for c in CORPUS["values"] + CORPUS["images"] if "json" in c)
    for needle in ("arbitrary bytes", "empty string", "38-digit", "unicode", "dotted"):
        assert needle in ok, needle


# -- values --------------------------------------------------------------------------------


def assert_image_refused(image: dict[str, Any], error: str) -> None:
    """Both decoders of a NewImage (to Python values, to JSON) raise MalformedValue with
    exactly ``error``."""
    with pytest.raises(MalformedValue) as decoded:
        deserialize_image(image, "NewImage")
    assert str(decoded.value) == error
    with pytest.raises(MalformedValue) as written:
        image_to_json(image, "NewImage")
    assert str(written.value) == error


@pytest.mark.parametrize("case", CORPUS["values"], ids=ids("values"))
def test_value(case: dict[str, Any]) -> None:
    image = {**PK, "value": case["value"]}
    if "error" in case:
        # GIVEN a value DynamoDB would never send WHEN it is decoded either way
        # THEN MalformedValue names the attribute path and the problem, exactly
        assert_image_refused(image, case["error"])
        with pytest.raises(MalformedValue) as single:
            to_json(case["value"], "NewImage.value")
        assert str(single.value) == case["error"]
    else:
        # GIVEN a valid but unusual value THEN its JSON is exact and agrees with deserialize
        text = to_json(case["value"])
        assert text == case["json"]
        assert loads(text) == json_view(deserialize(case["value"]))
        assert loads(image_to_json(image)) == json_view(deserialize_image(image))


def test_arbitrary_bytes_round_trip_exactly() -> None:
    raw = bytes(range(256)) * 3 + b"\x00\xff"
    value = {"B": base64.b64encode(raw).decode()}
    assert deserialize(value) == raw
    assert base64.b64decode(json.loads(to_json(value))) == raw


def test_numbers_keep_every_digit() -> None:
    text = "-1234567890.1234567890123456789012345678"
    assert str(deserialize({"N": text})) == text
    assert to_json({"N": text}) == text
    # DynamoDB writes 1E+100 as a 1 and 100 zeros; boto3 (and once Powertools) raise on it
    assert deserialize({"N": "1" + "0" * 100}) == Decimal("1E+100")


@pytest.mark.parametrize("case", CORPUS["images"], ids=ids("images"))
def test_unusual_image_works(case: dict[str, Any]) -> None:
    image = {**PK, **case["image"]}
    assert image_to_json(image, "NewImage") == case["json"]
    decoded = deserialize_image(image, "NewImage")
    assert list(decoded) == list(image)  # every name kept, dots and all, in stream order
    assert loads(case["json"]) == json_view(decoded)


@pytest.mark.parametrize("case", CORPUS["generated"], ids=ids("generated"))
def test_generated(case: dict[str, Any]) -> None:
    image = generated_value(case["generate"])
    if "error" in case:
        assert_image_refused(image, case["error"])
    else:
        assert case["ok"] is True
        text = image_to_json(image, "NewImage")
        assert loads(text) == json_view(deserialize_image(image, "NewImage"))
        if "large_item_bytes" in case["generate"]:
            assert len(text.encode()) >= case["generate"]["large_item_bytes"] * 0.9


# -- records ---------------------------------------------------------------------------------


def apply_change(rec: dict[str, Any], case: dict[str, Any]) -> Any:
    if "replace" in case:
        return case["replace"]
    rec = copy.deepcopy(rec)
    for path, value in case.get("set", {}).items():
        *parents, last = path.split(".")
        target = rec
        for part in parents:
            target = target[part]
        target[last] = value
    for path in case.get("drop", []):
        *parents, last = path.split(".")
        target = rec
        for part in parents:
            target = target[part]
        del target[last]
    return rec


@pytest.mark.parametrize("case", CORPUS["records"], ids=ids("records"))
def test_record_fails_alone(case: dict[str, Any]) -> None:
    bad = apply_change(stream_record({**PK, "n": {"N": "1"}}, 1, "bad-record"), case)
    records = parse_event(batch_of_three(bad, 1))
    assert len(records) == 3
    for good in (records[0], records[2]):
        good.check()
        assert good.new_image is not None
    record = records[1]
    if case["error"] is None:
        record.check()
        return

    def use() -> None:
        record.check()
        record.keys  # noqa: B018
        record.new_image  # noqa: B018

    with pytest.raises(RecordError) as caught:
        use()
    assert str(caught.value) == case["error"]


# -- through run_batch ------------------------------------------------------------------------


def bad_value_record(case: dict[str, Any], index: int) -> dict[str, Any]:
    if "generate" in case:
        image = generated_value(case["generate"])
    else:
        image = {**PK, "value": case["value"]} if "value" in case else {**PK, **case["image"]}
    return stream_record(image, index, "bad-record")


VALUE_CASES = CORPUS["values"] + CORPUS["images"] + CORPUS["generated"]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c["case"] for c in VALUE_CASES])
def test_value_through_run_batch(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    event = batch_of_three(bad_value_record(case, 1), 1)
    response, processor = run(event)
    if "error" not in case:
        assert response == {"batchItemFailures": []}
        assert processor.applied == ["good-0", "bad-record", "good-2"]
        return
    # the bad record and every later one are reported; nothing after it was applied
    assert response == expected_failure_response(event)
    assert processor.applied == ["good-0"]
    [line] = failure_lines(capsys.readouterr().out)
    assert line["reason"] == case["error"]
    assert line["sequence_number"] == event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert line["kind"] == "poison"


@pytest.mark.parametrize(
    "case",
    [c for c in VALUE_CASES if "error" in c],
    ids=[c["case"] for c in VALUE_CASES if "error" in c],
)
def test_bad_first_value_raises_for_bisection(case: dict[str, Any]) -> None:
    event = batch_of_three(bad_value_record(case, 0), 0)
    with pytest.raises(BatchFailed) as caught:
        run(event)
    assert str(caught.value) == (
        f"decode: the first record of the batch failed ({case['error']}); raising so that "
        "Lambda retries the batch and bisects it down to the failing record"
    )


@pytest.mark.parametrize("case", CORPUS["records"], ids=ids("records"))
def test_record_through_run_batch(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    bad = apply_change(stream_record({**PK, "n": {"N": "1"}}, 1, "bad-record"), case)
    event = batch_of_three(bad, 1)
    if "batch_error" in case:
        # a record that cannot be named by sequence number fails the whole batch, by name
        with pytest.raises(BatchFailed) as caught:
            run(event)
        assert str(caught.value) == case["batch_error"]
        return
    response, processor = run(event)
    if case["error"] is None:
        assert response == {"batchItemFailures": []}
        return
    assert response == expected_failure_response(event)
    assert processor.applied == ["good-0"]
    [line] = failure_lines(capsys.readouterr().out)
    assert line["reason"] == case["error"]


@pytest.mark.parametrize(
    "case",
    [c for c in CORPUS["records"] if c["error"] and "batch_error" not in c],
    ids=[c["case"] for c in CORPUS["records"] if c["error"] and "batch_error" not in c],
)
def test_bad_first_record_raises_for_bisection(case: dict[str, Any]) -> None:
    bad = apply_change(stream_record({**PK, "n": {"N": "1"}}, 0, "bad-record"), case)
    with pytest.raises(BatchFailed) as caught:
        run(batch_of_three(bad, 0))
    assert f"the first record of the batch failed ({case['error']})" in str(caught.value)


def test_stream_arn_is_the_batch_majority() -> None:
    # the odd record out is the one from the other stream, wherever it sits
    other = STREAM_ARN.replace("applications", "other")
    event = batch_of_three(dict(stream_record(PK, 0, "odd"), eventSourceARN=other), 0)
    records = parse_event(event)
    assert records[0].stream_arn == STREAM_ARN
    with pytest.raises(RecordError, match="another stream"):
        records[0].check()


def test_deep_garbage_in_a_message_is_shown_briefly() -> None:
    # the message names the type tags only: no RecursionError, no megabyte reasons, no values
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    bad = {"S": "a", "N": "1", "L": deep, "X": "y" * 100_000}
    for decode in (deserialize, to_json):
        with pytest.raises(MalformedValue) as caught:
            decode(bad, "NewImage.value")
        # only the type tags are named, never the values
        assert str(caught.value) == (
            "NewImage.value: expected an attribute value with exactly one type tag, "
            "got 4 type tags ('S', 'N', 'L', 'X')"
        )
