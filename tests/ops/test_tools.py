"""generate-event, tail, replay and the CLI wiring, against moto (``aws_env``)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from ddbt.cli import main
from ddbt.ops.records import SYNTH_DIGITS, generate_event, synth_sequence
from ddbt.ops.replay import replay
from ddbt.ops.stream_reading import read_stream
from ddbt.ops.tail import describe_change, follow
from ddbt.ops.target import InProcessTarget
from handlers.etl import EtlProcessor
from handlers.stream import EventName, parse_event
from tests import factories as f
from tests.conftest import create_table, make_client

VIEWS = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", ["INSERT", "MODIFY", "REMOVE"])
def test_generate_event_parses_with_the_toolkit(view: str, name: str) -> None:
    event = generate_event(
        item={"pk": "a", "score": 1.5, "tags": ["x"]},
        old_item={"pk": "a", "score": 1},
        key_names=["pk"],
        event_name=name,
        view_type=view,
        table="jobs",
    )
    (record,) = parse_event(event)
    record.check()
    assert record.event_name == EventName(name)
    assert record.keys == {"pk": "a"} and record.table_name == "jobs"
    has_new = name != "REMOVE" and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    has_old = name != "INSERT" and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    assert (record.new_image is not None) == has_new
    assert (record.old_image is not None) == has_old
    if has_new:
        assert str(record.new_image["score"]) == "1.5"  # exact decimal, not a float
    if has_old and name == "MODIFY":
        assert record.old_image["score"] == 1
    assert record.seq > 0 and 21 <= len(record.sequence_number) <= 40


def test_generate_event_cli_key_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-event", "pk=u1", "age=42", "name=Zoë", "--view-type", "NEW_IMAGE"]) == 0
    (record,) = parse_event(json.loads(capsys.readouterr().out))
    assert record.new_image == {"pk": "u1", "age": 42, "name": "Zoë"}
    assert record.keys == {"pk": "u1"}


def test_synthesized_sequence_numbers_are_accepted_and_never_real() -> None:
    seq = synth_sequence(1_767_225_600_000, 3, 12)
    assert len(seq) == SYNTH_DIGITS > 40 and seq.isdigit()
    assert synth_sequence(1_767_225_600_000, 3, 13) > seq  # ordered within a segment
    event = generate_event(item={"pk": "a"}, key_names=["pk"], sequence_number=seq)
    (record,) = parse_event(event)
    assert record.seq == int(seq)
    runs, stop, reason = EtlProcessor("b", "", lambda: None).plan([record])
    assert stop == 1, reason
    assert runs[0].key.rsplit("/", 1)[1].split("-")[0] == seq  # 41 digits: no real key


def _stream_table(name: str = "src") -> str:
    return create_table(name, stream="NEW_AND_OLD_IMAGES")


def test_tail_prints_changes_with_a_diff(aws_env: str) -> None:
    arn = _stream_table()
    ddb = make_client("dynamodb")
    ddb.put_item(TableName="src", Item={"pk": {"S": "a"}, "status": {"S": "NEW"}})
    ddb.put_item(
        TableName="src",
        Item={"pk": {"S": "a"}, "status": {"S": "DONE"}, "n": {"N": "2"}},
    )
    ddb.delete_item(TableName="src", Key={"pk": {"S": "a"}})
    lines: list[str] = []
    count = follow(
        make_client("dynamodbstreams"), arn, lines.append, from_start=True, idle_exit=0.2, poll=0.05
    )
    assert count == 3
    assert "INSERT" in lines[0] and '"status": "NEW"' in lines[0]
    assert 'MODIFY {"pk": "a"} +n: 2; status: "NEW" -> "DONE"' in lines[1]
    assert "REMOVE" in lines[2] and "old" in lines[2]


def test_tail_cli(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    _stream_table()
    make_client("dynamodb").put_item(TableName="src", Item={"pk": {"S": "z"}})
    assert main(["tail", "src", "--from-start", "--max-records", "1"]) == 0
    assert 'INSERT {"pk": "z"} new {"pk": "z"}' in capsys.readouterr().out


def test_describe_change_keys_only() -> None:
    event = generate_event(item={"pk": "k"}, key_names=["pk"], view_type="KEYS_ONLY")
    assert describe_change(event["Records"][0]).endswith('{"pk": "k"} (keys only)')


def _aggregate_inserts() -> int:
    items = make_client("dynamodb").scan(TableName="aggregates")["Items"]
    return sum(int(i["INSERT"]["N"]) for i in items if "INSERT" in i)


def test_replay_skip_counts_nothing_twice_and_overwrite_needs_history_sources(
    aws_env: str,
) -> None:
    arn = _stream_table()
    create_table("aggregates")
    ddb = make_client("dynamodb")
    for i in range(30):
        ddb.put_item(TableName="src", Item={"pk": {"S": f"i{i}"}})
    streams = make_client("dynamodbstreams")
    records = list(read_stream(streams, arn))
    assert len(records) == 30
    target = InProcessTarget("analytics", {"AGGREGATES_TABLE": "aggregates"})
    # The function processed the first 20 (as Lambda would, in two batches).
    assert target.run(records[:10]).done == 10 and target.run(records[10:20]).done == 10
    assert _aggregate_inserts() == 20
    report = replay(
        read_stream(streams, arn), target.processors, mode="skip", dynamodb=ddb, batch_size=7
    )
    assert report.skipped["analytics"] == 20 and report.processed["analytics"] == 10
    assert _aggregate_inserts() == 30
    again = replay(records, target.processors, mode="skip", dynamodb=ddb)
    assert again.processed["analytics"] == 0 and _aggregate_inserts() == 30
    with pytest.raises(ValueError, match="needs the history sources"):
        replay(records, target.processors, mode="overwrite", dynamodb=ddb)  # see test_recompute
    # A time range outside the records selects nothing.
    assert list(read_stream(streams, arn, until=0)) == []


def test_backfill_cli_dry_run_and_run(aws_env: str, tmp_path: Path, capsys: Any) -> None:
    create_table("src")
    create_table("aggregates")
    ddb = make_client("dynamodb")
    for i in range(12):
        ddb.put_item(TableName="src", Item={"pk": {"S": f"i{i}"}})
    base = ["backfill", "src", "--processor", "analytics", "--env", "AGGREGATES_TABLE=aggregates"]
    cp = str(tmp_path / "cp.json")
    assert main([*base, "--checkpoint", cp, "--dry-run"]) == 0
    assert "12 items read, 12 records processed" in capsys.readouterr().out
    assert _aggregate_inserts() == 0 and not Path(cp).exists()
    assert main([*base, "--checkpoint", cp, "--segments", "2", "--read-units", "1000"]) == 0
    assert "backfill complete: 12 items read, 12 records processed, 0 failed" in (
        capsys.readouterr().out
    )
    assert _aggregate_inserts() == 12


def test_redrive_from_an_s3_failure_destination(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = make_client("s3")
    s3.create_bucket(Bucket="lake")
    s3.create_bucket(Bucket="failures")
    records = [
        generate_event(item={"pk": f"p{i}"}, key_names=["pk"], sequence_number=str(10**25 + i))[
            "Records"
        ][0]
        for i in range(3)
    ]
    # An S3 on-failure destination's object (it carries the records).
    s3_object = f.failure_message(
        records,
        function="arn:aws:lambda:us-east-1:123456789012:function:etl",
        invoke_count=3,
        payload=True,
    )
    good = "aws/lambda/uuid-1/shardId-1/2026/01/01/2026-01-01T00.00.00-a"
    bad = "aws/lambda/uuid-1/shardId-1/2026/01/01/2026-01-01T00.00.01-b"
    s3.put_object(Bucket="failures", Key=good, Body=json.dumps(s3_object).encode())
    s3.put_object(Bucket="failures", Key=bad, Body=b'{"version": "1.0"}')
    argv = ["redrive", "--from-s3", "s3://failures/aws/lambda/", "--processor", "etl"]
    argv += ["--env", "ETL_BUCKET=lake"]
    assert main([*argv, "--dry-run"]) == 1  # the bad object is reported either way
    assert "Contents" not in s3.list_objects_v2(Bucket="lake")
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"{good}: redriven (3 records)" in out and f"{bad}: invalid" in out
    left = [o["Key"] for o in s3.list_objects_v2(Bucket="failures")["Contents"]]
    assert left == [bad]
    (obj,) = s3.list_objects_v2(Bucket="lake")["Contents"]
    body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
    assert [json.loads(x)["keys"]["pk"] for x in body.splitlines()] == ["p0", "p1", "p2"]


def test_tail_shows_a_value_dynamodb_would_reject_instead_of_crashing() -> None:
    """moto stores numbers DynamoDB rejects (39 digits); tail still prints the change."""
    big = "1" * 39
    line = describe_change(
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": "a"}},
                "NewImage": {"pk": {"S": "a"}, "n": {"N": big}},
            },
        }
    )
    assert '"pk": "a"' in line and big in line and "unreadable" in line


def test_without_a_target_the_error_lists_every_processor(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from handlers.registry import ENTRY_POINTS

    assert main(["backfill", "src"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("ddbt: name --processor (") and message.endswith(") or --function")
    for name in ENTRY_POINTS:
        assert name in message
