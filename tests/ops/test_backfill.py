"""Backfill of 2,000 items (4 segments of a few scan pages, two batches a page) through
analytics + ETL (one pipeline), interrupted after a batch's side effects but before the
checkpoint file was written, then resumed: every item is counted once by analytics and written
once as an ETL line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ddbt.ops.backfill import BackfillOptions, backfill
from ddbt.ops.records import SYNTH_DIGITS
from ddbt.ops.target import InProcessTarget, Result
from tests.conftest import create_table, make_client

N = 2_000


class Interrupted(BaseException):
    """Stands in for Ctrl-C / a crash: not an Exception, nothing catches it."""


class CrashAfter:
    """Delegates to the real target; after ``n`` batches, raises *after* the batch's side
    effects, i.e. before the backfill could record it in its checkpoint file."""

    def __init__(self, inner: InProcessTarget, n: int) -> None:
        self.inner = inner
        self.left = n

    def run(self, records: Sequence[Mapping[str, Any]]) -> Result:
        result = self.inner.run(records)
        self.left -= 1
        if self.left <= 0:
            raise Interrupted
        return result


def _fill(table: str) -> None:
    ddb = make_client("dynamodb")
    for start in range(0, N, 25):
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"item-{i:05d}"},
                                "status": {"S": "OPEN" if i % 2 else "CLOSED"},
                            }
                        }
                    }
                    for i in range(start, min(N, start + 25))
                ]
            }
        )


@pytest.fixture
def env(aws_env: str) -> dict[str, str]:
    for name in ("source", "aggregates", "checkpoints"):
        create_table(name)
    make_client("s3").create_bucket(Bucket="lake")
    _fill("source")
    return {
        "PROCESSORS": "analytics,etl",
        "CHECKPOINT_TABLE": "checkpoints",
        "AGGREGATES_TABLE": "aggregates",
        "ANALYTICS_GROUP_BY": "status",
        "ETL_BUCKET": "lake",
        "AWS_LAMBDA_FUNCTION_NAME": "pipeline-fn",
    }


def _etl_lines() -> list[dict[str, Any]]:
    s3 = make_client("s3")
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read()
            lines += [json.loads(x) for x in gzip.decompress(body).splitlines()]
            name = obj["Key"].rsplit("/", 1)[-1]
            assert len(name.split("-")[0]) == SYNTH_DIGITS  # never a real 40-digit key
    return lines


def _counts() -> dict[str, int]:
    ddb = make_client("dynamodb")
    items = ddb.scan(TableName="aggregates")["Items"]
    out = {}
    for item in items:
        if "INSERT" in item and not item["pk"]["S"].startswith("#"):
            out[item["pk"]["S"]] = int(item["INSERT"]["N"])
    return out


def test_backfill_resumes_after_interruption_without_repeats(
    env: dict[str, str], tmp_path: Path
) -> None:
    ddb = make_client("dynamodb")
    opts = BackfillOptions(
        table="source", checkpoint=tmp_path / "bf.json", segments=4, page_size=200, batch_size=100
    )
    target = InProcessTarget("pipeline", env)
    with pytest.raises(Interrupted):
        backfill(opts, ddb, CrashAfter(target, 7))
    state = json.loads((tmp_path / "bf.json").read_text())
    first_run = sum(s["processed"] for s in state["segments"].values())
    assert 0 < first_run < N
    partial = _etl_lines()
    assert 0 < len(partial) < N

    report = backfill(opts, ddb, InProcessTarget("pipeline", env))
    assert report.complete and report.failed == 0
    lines = _etl_lines()
    seqs = [line["sequenceNumber"] for line in lines]
    assert len(seqs) == N == len(set(seqs))  # every item exactly once
    assert {line["keys"]["pk"] for line in lines} == {f"item-{i:05d}" for i in range(N)}
    assert all(line["eventName"] == "INSERT" and "newImage" in line for line in lines)
    counts = _counts()
    assert sum(counts.values()) == N, counts  # analytics counted each item once
    assert sorted(counts.values()) == [N // 2, N // 2]

    # A third run with the finished checkpoint does nothing.
    again = backfill(opts, ddb, InProcessTarget("pipeline", env))
    assert again.items_read == 0 and again.processed == 0 and again.complete
    assert sum(_counts().values()) == N
