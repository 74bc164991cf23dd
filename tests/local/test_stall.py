"""Records that would expire unseen, on the local runtime: a stream the pollers cannot read, and
an on-failure destination that is gone. The runtime says so plainly, in the poller log and in
``ddbt local status``.

The read is denied the way AWS denies it when the table's key policy does not let the role
decrypt: GetRecords answers AccessDeniedException (injected below botocore's retries, as
moto enforces neither IAM nor KMS). During that stall nothing the module's older alarms watch
moves (no invocation, error, timeout, failure record or failed record: their alarms read
missing data as fine), while the stream reads stop (what the stall alarm watches:
PolledEventCount, which Lambda emits even for an empty poll).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from ddbt import cli
from ddbt.local.report import Report, Stats, problems
from tests.local.conftest import REGION, Cloud, wait_for
from tests.reliability.faults import Outage, always


def _flat(s: Stats) -> tuple[int, ...]:
    """What the older alarms watch: invocations, errors, timeouts, failure records, records
    processed."""
    return (s.invocations, s.errors, s.timeouts, s.to_destination, s.records_done)


def _written(state: Path, uuid: str, key: str) -> object:
    """``key`` of the mapping's counters in the status file the runtime writes."""
    data = json.loads((state / "status.json").read_text())
    return data["mappings"].get(uuid, {}).get("stats", {}).get(key)


def _status(state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``ddbt local status`` prints; the pollers run in this process (its pid is the
    runner's, as ``ddbt local up`` records its runner)."""
    (state / "runner.pid").write_text(str(os.getpid()))
    capsys.readouterr()
    assert cli.main(["local", "status", "--state-dir", str(state)]) == 0
    return capsys.readouterr().out


def test_a_stream_that_cannot_be_read_is_reported_as_stalled(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = cloud.table()
    cloud.function()
    uuid = cloud.mapping(stream)
    cloud.put("before")
    log = io.StringIO()
    state = tmp_path / "state"
    rt = cloud.runtime(state=state, report=Report(out=log), status_file=state / "status.json")
    assert rt.wait_caught_up(60)
    stats = rt.report.stats[uuid]
    flat = _flat(stats)
    assert flat[0] == 1 and stats.polled == 1 and not stats.read_failing

    denied = Outage(
        rt.client("dynamodbstreams", REGION), "GetRecords", always, "AccessDeniedException", 400
    )
    cloud.put("while-denied")
    wait_for(lambda: bool(stats.read_failing), 60)
    polled, last_read = stats.polled, stats.last_read_at
    wait_for(lambda: denied.failed >= 5, 60)

    # Said plainly: once in the poller log, and by `ddbt local status`.
    lines = [line for line in log.getvalue().splitlines() if "STALLED" in line]
    assert len(lines) == 1, log.getvalue()
    assert f"mapping {uuid[:8]}: STALLED: cannot read the stream" in lines[0]
    assert "AccessDeniedException" in lines[0] and "GetRecords" in lines[0]
    wait_for(lambda: bool(_written(state, uuid, "read_failing")), 60)
    out = _status(state, capsys)
    assert "STALLED: cannot read the stream since" in out and "AccessDeniedException" in out
    assert "unread records expire 24 hours after they were written" in out

    # What the older alarms watch did not move, and nothing was processed ...
    assert _flat(stats) == flat
    assert [k for c in cloud.invocations() for k in c["keys"]] == ["before"]
    # ... and the stream reads stopped: no record polled, no successful (even empty) poll.
    assert (stats.polled, stats.last_read_at) == (polled, last_read)

    # Readable again: the record is processed and the stall is over.
    denied.on = False
    wait_for(lambda: not stats.read_failing, 60)
    assert rt.wait_caught_up(60)
    assert [k for c in cloud.invocations() for k in c["keys"]] == ["before", "while-denied"]
    assert f"mapping {uuid[:8]}: reads shardId-" in log.getvalue()
    assert problems(rt.report.snapshot(uuid)) == []
    wait_for(lambda: "STALLED" not in _status(state, capsys), 60)


def test_a_destination_that_is_gone_is_reported_as_loss(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url, arn, uuid, _ = cloud.failing_to_dlq(MaximumRetryAttempts=0)
    cloud.sqs.delete_queue(QueueUrl=url)
    cloud.put("raise-me")
    log = io.StringIO()
    state = tmp_path / "state"
    rt = cloud.runtime(state=state, report=Report(out=log), status_file=state / "status.json")
    wait_for(lambda: uuid in rt.report.stats and rt.report.stats[uuid].undelivered_messages, 30)

    stats = rt.report.stats[uuid]
    assert (stats.undelivered_messages, stats.undelivered_records) == (1, 1)
    assert "The specified queue does not exist" in stats.destination_error
    lost = [line for line in log.getvalue().splitlines() if "LOST" in line]
    assert len(lost) == 1 and arn in lost[0] and "DestinationDeliveryFailures" in lost[0]
    # the message is kept right after the report has it (another thread): wait for its line
    kept_file = state / "undeliverable.jsonl"
    wait_for(lambda: kept_file.exists() and kept_file.read_text().endswith("\n"), 60)
    (kept,) = [json.loads(x) for x in kept_file.read_text().splitlines()]
    assert kept["destination"] == arn and kept["message"]["DDBStreamBatchInfo"]["batchSize"] == 1
    wait_for(lambda: _written(state, uuid, "undelivered_messages") == 1, 60)
    out = _status(state, capsys)
    assert "LOST: 1 records of 1 failed batches could not be delivered" in out
    assert "The specified queue does not exist" in out
