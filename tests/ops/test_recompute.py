"""replay --mode overwrite for analytics: recompute the affected aggregates, against moto."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from ddbt.cli import main
from ddbt.ops.recompute import RecomputeOptions
from ddbt.ops.replay import ReplayReport, replay
from ddbt.ops.stream_reading import read_stream
from ddbt.ops.target import InProcessTarget, _Context
from handlers.batch import run_batch
from tests.conftest import create_table, make_client

ENV = {"AGGREGATES_TABLE": "aggregates", "ANALYTICS_GROUP_BY": "status"}


def _source() -> str:
    arn = create_table("src", stream="NEW_AND_OLD_IMAGES")
    create_table("aggregates")
    ddb = make_client("dynamodb")
    for i in range(24):
        ddb.put_item(TableName="src", Item={"pk": {"S": f"j{i}"}, "status": {"S": "OPEN"}})
    for i in range(0, 24, 3):
        ddb.put_item(TableName="src", Item={"pk": {"S": f"j{i}"}, "status": {"S": "CLOSED"}})
    for i in range(0, 24, 6):
        ddb.delete_item(TableName="src", Key={"pk": {"S": f"j{i}"}})
    return arn


def _aggregates() -> dict[str, dict[str, int]]:
    items = make_client("dynamodb").scan(TableName="aggregates")["Items"]
    return {
        i["pk"]["S"]: {k: int(v["N"]) for k, v in i.items() if "N" in v}
        for i in items
        if not i["pk"]["S"].startswith("#")
    }


EXPECTED = {
    'src|status="OPEN"': {"INSERT": 24},
    'src|status="CLOSED"': {"MODIFY": 8, "status: OPEN -> CLOSED": 8, "REMOVE": 4},
}


def _live_then_buggy(target: InProcessTarget, records: list[dict[str, Any]]) -> None:
    """The function counts everything once, in batches of 9; then a "bug" (a deployment that
    lost its checkpoint store) adds records 18..29 a second time."""
    for i in range(0, len(records), 9):
        assert target.run(records[i : i + 9]).done == len(records[i : i + 9])
    assert _aggregates() == EXPECTED
    run_batch({"Records": records[18:30]}, _Context(60_000), target.processors, None)
    assert _aggregates() != EXPECTED


def _overwrite(
    records: list[dict[str, Any]],
    target: InProcessTarget,
    processors: list[Any] | None = None,
    dry_run: bool = False,
    **options: Any,
) -> ReplayReport:
    """replay --mode overwrite of ``records`` with ``target``'s processors (or
    ``processors``) and store; ``options``: the RecomputeOptions besides the clients."""
    return replay(
        records,
        target.processors if processors is None else processors,
        mode="overwrite",
        dynamodb=make_client("dynamodb"),
        store=target.store,
        dry_run=dry_run,
        recompute=RecomputeOptions(
            streams=make_client("dynamodbstreams"), s3=make_client("s3"), **options
        ),
    )


def test_overwrite_recomputes_exactly_and_twice_changes_nothing(aws_env: str) -> None:
    arn = _source()
    streams = make_client("dynamodbstreams")
    records = list(read_stream(streams, arn))
    assert len(records) == 36
    target = InProcessTarget("analytics", ENV)
    _live_then_buggy(target, records)
    wrong = _aggregates()

    dry = _overwrite(records[18:30], target, dry_run=True)
    assert _aggregates() == wrong  # a dry run writes nothing
    text = "\n".join(dry.lines())
    assert 'src|status="OPEN": INSERT 30 -> 24' in text
    assert 'src|status="CLOSED": MODIFY 14 -> 8; status: OPEN -> CLOSED 14 -> 8' in text

    report = _overwrite(records[18:30], target)
    assert report.ok, report.lines()
    assert _aggregates() == EXPECTED
    assert report.recompute.counted == 12 and report.recompute.marked == 12
    # A redelivery of the range (e.g. a redrive) adds nothing: the entries cover it.
    assert target.run(records[18:30]).done == 12
    assert _aggregates() == EXPECTED

    again = _overwrite(records[18:30], target)
    assert [k.status for k in again.recompute.keys] == ["unchanged", "unchanged"]
    assert _aggregates() == EXPECTED


def test_records_not_committed_by_the_live_function_are_left_to_it(aws_env: str) -> None:
    arn = _source()
    records = list(read_stream(make_client("dynamodbstreams"), arn))
    target = InProcessTarget("analytics", ENV)
    assert target.run(records[:20]).done == 20  # the function is behind: 16 to go
    report = _overwrite(records[:30], target)
    assert report.ok and report.recompute.left == 10
    assert target.run(records[20:]).done == 16  # the function catches up
    assert _aggregates() == EXPECTED


def test_trimmed_stream_without_archive_is_refused_and_the_archive_completes_it(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = _source()
    records = list(read_stream(make_client("dynamodbstreams"), arn))
    # The pipeline: ETL archives every change; analytics counts them.
    make_client("s3").create_bucket(Bucket="lake")
    etl = InProcessTarget("etl", {"ETL_BUCKET": "lake", "ETL_PREFIX": "changes/"})
    assert etl.run(records).done == 36
    target = InProcessTarget("analytics", ENV)
    _live_then_buggy(target, records)
    wrong = _aggregates()
    later = time.time() + 25 * 3600  # the stream is now older than its 24-hour retention
    refused = _overwrite(records[18:30], target, now=lambda: later)
    assert not refused.ok and _aggregates() == wrong
    assert {k.status for k in refused.recompute.keys} == {"refused"}
    assert "older than 24 hours" in "\n".join(refused.lines())

    fixed = _overwrite(records[18:30], target, now=lambda: later, archive=("lake", "changes/"))
    assert fixed.ok, fixed.lines()
    assert _aggregates() == EXPECTED

    # The CLI: archive refused without --archive (exit 1), explains why.
    base = ["replay", "--table", "src", "--mode", "overwrite", "--processor", "analytics"]
    base += ["--env", "AGGREGATES_TABLE=aggregates", "--env", "ANALYTICS_GROUP_BY=status"]
    assert main([*base, "--dry-run"]) == 0
    assert "2 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("legacy", [False, True], ids=["aws-spelling", "old-local-spelling"])
def test_window_aggregates_recompute_per_window(aws_env: str, legacy: bool) -> None:
    """Also for a window committed before analytics spelled window starts as AWS does: its
    aggregates carry ``...:00.000Z`` (the local runtime's old spelling, from a state of the
    old format) and stay readable and recomputable."""
    arn = _source()
    streams = make_client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    size = 3600
    by_window: dict[int, list[dict[str, Any]]] = {}
    for r in read_stream(streams, arn):  # the writes may straddle an hour: take the larger
        w = math.floor(r["dynamodb"]["ApproximateCreationDateTime"] / size) * size
        by_window.setdefault(w, []).append(r)
    start, records = max(by_window.items(), key=lambda kv: len(kv[1]))
    target = InProcessTarget("analytics", ENV)
    processor = target.processors[0]

    def window_event(recs: list[dict[str, Any]], state: Any, final: bool) -> dict[str, Any]:
        return {
            "Records": recs,
            "window": {
                "start": time.strftime(spelling, time.gmtime(start)),
                "end": time.strftime(spelling, time.gmtime(start + size)),
            },
            "state": state,
            "shardId": shard,
            "eventSourceARN": arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": False,
        }

    spelling = "%Y-%m-%dT%H:%M:%S.000Z" if legacy else "%Y-%m-%dT%H:%M:%SZ"
    ctx = _Context(60_000)
    half = len(records) // 2
    first = window_event(records[:half], {}, False)
    state = run_batch(first, ctx, [processor], target.store)["state"]
    if legacy:  # the state as earlier versions kept it: {aggregate key: delta}
        state = {"analytics": state["analytics"]["aggregates"]}
    final = window_event(records[half:], state, True)
    run_batch(final, ctx, [processor], target.store)
    expected = _aggregates()
    suffix = time.strftime(f"|window={spelling}", time.gmtime(start))
    assert expected and all(k.endswith(suffix) for k in expected), sorted(expected)
    # A bug commits the window's final state a second time (a renamed function: other
    # commit markers): the window's aggregates double.
    renamed = InProcessTarget("analytics", {**ENV, "AWS_LAMBDA_FUNCTION_NAME": "renamed"})
    run_batch(final, ctx, renamed.processors, None)
    assert _aggregates() != expected
    open_window = _overwrite(
        records, target, [processor], window_seconds=size, now=lambda: start + 1
    )
    assert {k.status for k in open_window.recompute.keys} == {"refused"}
    assert "still open" in "\n".join(open_window.lines())
    fixed = _overwrite(
        records, target, [processor], window_seconds=size, now=lambda: start + size + 1
    )
    assert fixed.ok, fixed.lines()
    assert _aggregates() == expected


def test_history_of_an_earlier_stream_comes_from_the_etl_archive(aws_env: str) -> None:
    """Changes of an earlier stream of the table (gone: three days old) exist only in the ETL
    archive: they are read back from its plain JSON lines with exact types."""
    from decimal import Decimal

    from ddbt.ops.records import generate_event

    ddb = make_client("dynamodb")
    streams = make_client("dynamodbstreams")
    env = {**ENV, "ANALYTICS_GROUP_BY": "status,level"}
    create_table("src", stream="NEW_AND_OLD_IMAGES")
    create_table("aggregates")
    make_client("s3").create_bucket(Bucket="lake")
    etl = InProcessTarget("etl", {"ETL_BUCKET": "lake", "ETL_PREFIX": "changes/"})
    target = InProcessTarget("analytics", env)
    # The earlier stream: 5 inserts and a status change, processed by ETL and analytics.
    then = int(time.time()) - 3 * 24 * 3600
    item = {"status": "OPEN", "level": Decimal("2.50")}
    old = [
        generate_event(
            item={"pk": f"old{i}", **item},
            key_names=["pk"],
            table="src",
            sequence_number=str(10**25 + i),
            created=then,
        )["Records"][0]
        for i in range(5)
    ]
    old.append(
        generate_event(
            item={"pk": "old0", **item, "status": "DONE"},
            old_item={"pk": "old0", **item},
            event_name="MODIFY",
            key_names=["pk"],
            table="src",
            sequence_number=str(10**25 + 9),
            created=then,
        )["Records"][0]
    )
    assert etl.run(old).done == target.run(old).done == 6
    # The current stream.
    for i in range(4):
        row = {"pk": {"S": f"new{i}"}, "status": {"S": "OPEN"}, "level": {"N": "2.50"}}
        ddb.put_item(TableName="src", Item=row)
    arn = ddb.describe_table(TableName="src")["Table"]["LatestStreamArn"]
    new = list(read_stream(streams, arn))
    assert etl.run(new).done == target.run(new).done == 4
    expected = _aggregates()
    assert expected['src|status="OPEN"|level=2.50'] == {"INSERT": 9}
    assert expected['src|status="DONE"|level=2.50'] == {"MODIFY": 1, "status: OPEN -> DONE": 1}
    run_batch({"Records": new}, _Context(60_000), target.processors, None)  # the bug
    assert _aggregates()['src|status="OPEN"|level=2.50'] == {"INSERT": 13}

    def overwrite(archive: tuple[str, str] | None) -> Any:
        return _overwrite(new, target, archive=archive)

    # Without the archive: ListStreams shows only the current stream, but analytics'
    # checkpoint entries name the earlier one, which no source holds: refused.
    refused = overwrite(None)
    assert not refused.ok and "no longer listed" in "\n".join(refused.lines())
    assert _aggregates()['src|status="OPEN"|level=2.50'] == {"INSERT": 13}
    fixed = overwrite(("lake", "changes/"))
    assert fixed.ok, fixed.lines()
    assert _aggregates() == expected
    assert sum("assumed complete" in n for n in fixed.recompute.notes) == 2


def test_overwrite_counts_only_what_the_mapping_filters_deliver(aws_env: str) -> None:
    """A function whose mapping filters drop REMOVEs never counted them: the recompute from
    the history must not count them either (they are in the stream all the same)."""
    import json

    from handlers.filters import compile_filters

    arn = _source()
    records = list(read_stream(make_client("dynamodbstreams"), arn))
    pattern = json.dumps({"eventName": ["INSERT", "MODIFY"]})
    matcher = compile_filters({"Filters": [{"Pattern": pattern}]})
    delivered = [r for r in records if matcher(r)]
    target = InProcessTarget("analytics", ENV)
    for i in range(0, len(delivered), 9):
        assert target.run(delivered[i : i + 9]).done == len(delivered[i : i + 9])
    expected = {
        'src|status="OPEN"': {"INSERT": 24},
        'src|status="CLOSED"': {"MODIFY": 8, "status: OPEN -> CLOSED": 8},
    }
    assert _aggregates() == expected
    report = _overwrite(delivered[18:30], target, matcher=matcher)
    assert report.ok, report.lines()
    assert [k.status for k in report.recompute.keys] == ["unchanged", "unchanged"]
    assert _aggregates() == expected
