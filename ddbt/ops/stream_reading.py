"""Reading a table's stream back: its ARN, its shards, and its retained records in the form
Lambda delivers them (``handlers.getrecords``), by shard or over a range.

Shared by the ops tools that read history: ``replay``, ``tail`` and the analytics recompute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from handlers.getrecords import lambda_records

__all__ = ["read_shards", "read_stream", "shards", "stream_of"]


def stream_of(dynamodb: Any, table: str) -> str:
    arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        raise ValueError(
            f"table {table} has no stream: enable one (aws dynamodb update-table --table-name "
            f"{table} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES)"
            " or pass --stream-arn"
        )
    return str(arn)


def shards(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every shard of the stream (DescribeStream pages through ExclusiveStartShardId)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        desc = streams.describe_stream(**params)["StreamDescription"]
        out += desc.get("Shards", [])
        last = desc.get("LastEvaluatedShardId")
        if not last:
            return out
        params["ExclusiveStartShardId"] = last


def read_shards(
    streams: Any,
    stream_arn: str,
    *,
    shard: str | None = None,
    from_seq: str | None = None,
    max_empty: int = 2,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(shard id, record in Lambda event form) of every retained record, shard by shard
    (parents first), from TRIM_HORIZON (or ``from_seq`` when ``shard`` is given)."""
    for s in shards(streams, stream_arn):
        if shard and s["ShardId"] != shard:
            continue
        params: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": s["ShardId"]}
        if from_seq and shard:
            params.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=from_seq)
        else:
            params["ShardIteratorType"] = "TRIM_HORIZON"
        iterator = streams.get_shard_iterator(**params)["ShardIterator"]
        empty = 0
        while iterator and empty < max_empty:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = page.get("Records", [])
            empty = 0 if records else empty + 1
            iterator = page.get("NextShardIterator")
            for r in lambda_records(records, stream_arn):
                yield s["ShardId"], r


def read_stream(
    streams: Any,
    stream_arn: str,
    *,
    shard: str | None = None,
    from_seq: str | None = None,
    to_seq: str | None = None,
    since: int | None = None,
    until: int | None = None,
    max_empty: int = 2,
    matcher: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records (Lambda event form) of the range, shard by shard (parents first); with
    ``matcher`` (a mapping's filters) only those it matches."""
    low = int(from_seq) if from_seq else None
    high = int(to_seq) if to_seq else None
    stopped: str | None = None
    for shard_id, r in read_shards(
        streams, stream_arn, shard=shard, from_seq=from_seq, max_empty=max_empty
    ):
        if shard_id == stopped:
            continue  # past the range's end in this shard
        seq = int(r["dynamodb"]["SequenceNumber"])
        t = int(r["dynamodb"].get("ApproximateCreationDateTime", 0))
        if (high is not None and seq > high) or (until is not None and t > until):
            stopped = shard_id
            continue
        if (low is None or seq >= low) and (since is None or t >= since):
            if matcher is None or matcher(r):
                yield r
