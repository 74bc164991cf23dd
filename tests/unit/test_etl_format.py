"""ETL without S3: configuration, naming (prefix, table segment, object key) and the exact
JSON Lines text of records (``EtlProcessor.plan``)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from decimal import Decimal
from typing import Any

import pytest

from handlers import etl
from handlers.codec import RecordError
from handlers.config import ConfigError
from handlers.etl import EtlProcessor, build, object_key, table_segment
from handlers.stream import parse_event
from tests import factories as f

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def plan(records: list[dict[str, Any]], prefix: str = "changes/") -> tuple[list[Any], int, str]:
    proc = EtlProcessor("bucket", prefix, lambda: None)
    return proc.plan(parse_event(f.event(records)))


def lines_of(records: list[dict[str, Any]]) -> list[str]:
    runs, stop, reason = plan(records)
    assert stop == len(records), reason
    return [line.decode("utf-8") for run in runs for line in run.lines]


# -- configuration ---------------------------------------------------------------------


def test_build_reads_bucket_and_default_prefix() -> None:
    proc = build({"ETL_BUCKET": "my-bucket"})
    assert (proc.bucket, proc.prefix, proc.name) == ("my-bucket", "changes/", "etl")


def test_missing_bucket_names_the_variable() -> None:
    for env in ({}, {"ETL_BUCKET": "  "}):
        with pytest.raises(ConfigError, match=r"ETL_BUCKET is required: .*S3 bucket"):
            build(env)


@pytest.mark.parametrize("bucket", ["s3://my-bucket", "my bucket", "a", "bucket/prefix"])
def test_malformed_bucket_names_the_variable(bucket: str) -> None:
    with pytest.raises(ConfigError, match=r"ETL_BUCKET=.*expected 3 to 63"):
        build({"ETL_BUCKET": bucket})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("changes/", "changes/"),
        ("exports", "exports/"),
        ("exports/ddb", "exports/ddb/"),
        ("a/b.c/d-e_f/", "a/b.c/d-e_f/"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_prefix_is_normalized(value: str, expected: str) -> None:
    assert build({"ETL_BUCKET": "b-1", "ETL_PREFIX": value}).prefix == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/changes/", "starts with '/'"),
        ("a//b/", "empty or '.' path segment"),
        ("a/./b", "empty or '.' path segment"),
        ("./a", "empty or '.' path segment"),
        ("a/../b/", "contains '..'"),
        ("..", "contains '..'"),
        ("a/..", "contains '..'"),
        ("a\x00b/", "control character"),
        ("x" * 600, "too long"),
    ],
)
def test_prefix_validation_names_the_variable(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        build({"ETL_BUCKET": "b-1", "ETL_PREFIX": value})
    message = str(info.value)
    assert "ETL_PREFIX" in message
    assert problem in message
    assert "expected an S3 key prefix" in message


def test_processor_is_built_once_per_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_BUCKET", "first-bucket")
    first = etl.processor()
    monkeypatch.setenv("ETL_BUCKET", "second-bucket")
    assert etl.processor() is first
    assert first.bucket == "first-bucket"


def test_handler_without_bucket_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETL_BUCKET", raising=False)
    with pytest.raises(ConfigError, match="ETL_BUCKET"):
        etl.handler(f.event([f.record()]), f.Context())


# -- naming ----------------------------------------------------------------------------


def test_valid_table_names_are_kept() -> None:
    for name in ("applications", "My_Table-1.v2", "a.b", "___"):
        assert table_segment(name) == name


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("..", "%2E%2E"),
        (".", "."),
        ("a..b", "a%2E%2Eb"),
        ("...", "%2E%2E%2E"),
        ("a/b", "a%2Fb"),
        ("a%2Fb", "a%252Fb"),
        ("x y", "x%20y"),
        ("é", "%C3%A9"),
        ("a\\..\\b", "a%5C%2E%2E%5Cb"),
        ("k=v", "k%3Dv"),
    ],
)
def test_hostile_table_names_are_escaped(name: str, segment: str) -> None:
    escaped = table_segment(name)
    assert escaped == segment
    assert "/" not in escaped and ".." not in escaped


def test_empty_table_name_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="names no table"):
        table_segment("")


def test_object_key_pads_the_sequence_number_to_40_digits() -> None:
    key = object_key("p/table=t/dt=2026-01-01/hour=00/", "123", "20260101T000000000")
    assert key == (
        "p/table=t/dt=2026-01-01/hour=00/"
        "0000000000000000000000000000000000000123-20260101T000000000.jsonl.gz"
    )
    assert len(key.rsplit("/", 1)[1].split("-")[0]) == 40


def test_plan_keys_use_first_sequence_number_and_label_digits() -> None:
    recs = f.sequential([f.record(created=T0), f.record(created=T0 + 5)], start=987654321)
    runs, stop, _ = plan(recs, prefix="x/")
    assert stop == 2
    assert [r.key for r in runs] == [
        "x/table=applications/dt=2026-01-01/hour=00/"
        + "987654321".zfill(40)
        + "-20260101T000000000.jsonl.gz"
    ]
    assert (runs[0].start, runs[0].first_sequence_number, runs[0].last_sequence_number) == (
        0,
        "987654321",
        "987654421",
    )


def test_runs_split_where_the_partition_changes_and_again_when_it_changes_back() -> None:
    times = [T0, T0 + 3599, T0 + 3600, T0 + 3601, T0 + 10]  # hours 00 00 01 01 00
    runs, stop, _ = plan(f.sequential([f.record(created=t) for t in times]))
    assert stop == 5
    assert [(r.start, len(r.lines), r.key.split("/")[3]) for r in runs] == [
        (0, 2, "hour=00"),
        (2, 2, "hour=01"),
        (4, 1, "hour=00"),
    ]


def test_stream_arn_without_label_is_poison_for_every_record() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    runs, stop, reason = plan([f.record(stream_arn=arn)])
    assert (runs, stop) == ([], 0)
    assert "no stream label" in reason


# -- line text -------------------------------------------------------------------------


def test_line_exact_text() -> None:
    rec = f.record(
        "MODIFY",
        {"pk": "job#1", "sk": 7},
        new={"status": "OFFER", "n": Decimal("2.50")},
        old={"status": "INTERVIEW"},
        seq=4_421_584_500_000_000_017_450_439_091,
        created=T0 + 3723,
    )
    rec["eventID"] = "c4ca4238a0b923820dcc509a6f75849b"
    assert lines_of([rec]) == [
        '{"eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"MODIFY",'
        '"sequenceNumber":"4421584500000000017450439091",'
        '"approximateCreationDateTime":"2026-01-01T01:02:03Z",'
        '"keys":{"pk":"job#1","sk":7},'
        '"newImage":{"pk":"job#1","sk":7,"status":"OFFER","n":2.50},'
        '"oldImage":{"pk":"job#1","sk":7,"status":"INTERVIEW"},'
        '"ttlExpired":false}\n'
    ]


def test_values_stay_exact() -> None:
    item = {
        "n38": Decimal("12345678901234567890123456789012345678"),
        "tiny": Decimal("1E-130"),
        "huge": Decimal("9.9999999999999999999999999999999999999E+125"),
        "bin": b"\x00\xff\xfe binary \x80",
        "ss": {"b", "a", "é", "Z"},
        "ns": {Decimal("10"), Decimal("9"), Decimal("-1.5")},
        "bs": {b"\x02", b"\x01\x00", b"\x01"},
        "empty": "",
        "unicode ключ": "значение ✓ 🎉",
        "dotted.name.x": {"nested.key": [1, "two", None, True]},
    }
    rec = f.record("INSERT", {"pk": "p"}, new=item)
    # digits exactly as DynamoDB sent them (boto3's serializer would write -1E-38)
    rec["dynamodb"]["NewImage"]["neg"] = {"N": "-0.00000000000000000000000000000000000001"}
    (line,) = lines_of([rec])
    assert '"n38":12345678901234567890123456789012345678' in line
    assert '"neg":-0.00000000000000000000000000000000000001' in line
    assert '"tiny":1E-130' in line
    assert '"huge":9.9999999999999999999999999999999999999E+125' in line
    assert '"ss":["Z","a","b","é"]' in line
    assert '"ns":[-1.5,9,10]' in line
    bs = [base64.b64encode(v).decode() for v in (b"\x01", b"\x01\x00", b"\x02")]
    assert '"bs":' + json.dumps(bs, separators=(",", ":")) in line
    assert '"empty":""' in line
    assert '"unicode ключ":"значение ✓ 🎉"' in line  # UTF-8, not \u escapes
    assert '"dotted.name.x":{"nested.key":[1,"two",null,true]}' in line
    new = json.loads(line, parse_float=Decimal)["newImage"]
    assert base64.b64decode(new["bin"]) == item["bin"]
    assert Decimal(str(new["n38"])) == item["n38"]


def test_creation_time_as_float_or_decimal_is_truncated_to_the_second() -> None:
    for value in (T0 + 59.9, Decimal(T0) + Decimal("59.9")):
        rec = f.record(created=T0)
        rec["dynamodb"]["ApproximateCreationDateTime"] = value
        (line,) = lines_of([rec])
        assert '"approximateCreationDateTime":"2026-01-01T00:00:59Z"' in line


def test_event_id_with_quotes_is_escaped() -> None:
    rec = f.record()
    rec["eventID"] = 'a"b\\c\n'
    (line,) = lines_of([rec])
    assert json.loads(line)["eventID"] == 'a"b\\c\n'


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["dynamodb"]["NewImage"].update(x={"N": "abc"}), "NewImage.x: N must be"),
        (lambda r: r["dynamodb"]["NewImage"].update(x={"Q": "1"}), "unknown type tag"),
        (lambda r: r["dynamodb"]["NewImage"].update(x={"B": "!!"}), "base64"),
        (lambda r: r["dynamodb"]["NewImage"].update(x={"SS": []}), "SS is empty"),
        (lambda r: r["dynamodb"]["Keys"].update(x={"N": "1e999"}), "Keys.x: N"),
        (lambda r: r.update(eventName="UPSERT"), "eventName must be"),
        (lambda r: r.update(eventSource="aws:kinesis"), "eventSource must be"),
        (lambda r: r.pop("dynamodb"), "'dynamodb' block is missing"),
        (lambda r: r["dynamodb"].pop("Keys"), "Keys is missing"),
        (lambda r: r["dynamodb"].update(OldImage=[1]), "OldImage: expected an attribute map"),
        (lambda r: r["dynamodb"].update(ApproximateCreationDateTime="x"), "epoch seconds"),
        (lambda r: r["dynamodb"].update(ApproximateCreationDateTime=1e20), "Creation"),
        (lambda r: r["dynamodb"]["NewImage"].update(x={"S": "\ud800"}), "not valid Unicode"),
    ],
)
def test_first_unencodable_record_stops_the_plan(mutate: Any, reason: str) -> None:
    # one record in hour 01, then four in hour 00 of which the third is broken
    recs = f.sequential(
        [f.record(created=T0 + 3600)] + [f.record("MODIFY", created=T0 + i) for i in range(4)]
    )
    mutate(recs[3])
    runs, stop, why = plan(recs)
    assert stop == 3
    assert reason in why
    assert [(r.start, len(r.lines)) for r in runs] == [(0, 1), (1, 2)]


def test_body_is_deterministic_gzip_of_the_lines() -> None:
    recs = f.sequential([f.record(created=T0 + i) for i in range(20)])
    (run,) = plan(recs)[0]
    body = run.body()
    assert body == plan(recs)[0][0].body()
    assert body[:3] == b"\x1f\x8b\x08" and body[4:8] == b"\0\0\0\0"  # gzip, mtime 0
    assert gzip.decompress(body) == b"".join(run.lines)
    assert body == gzip.compress(b"".join(run.lines), compresslevel=etl.GZIP_LEVEL, mtime=0)
    assert etl.GZIP_LEVEL == 6
    assert zlib.decompress(body, wbits=31).count(b"\n") == 20
