"""Progress of processors, keyed where Lambda can restart a delivery.

Why keyed like this (docs/aws-semantics.md#failures-retries-and-checkpoints): an invocation
does not name its shard
and sequence numbers only compare within one shard, so progress cannot be a per-shard
watermark. But every redelivery Lambda makes starts at a record whose sequence number the
handler saw: after a partial-failure response, exactly at the lowest reported record; after a
function error, at the batch's first record (whole) or at the first record of a bisected
half. An item keyed by that exact sequence number therefore identifies the shard implicitly,
and the progress it stores (the last record each processor applied, a sequence number of the
same shard) is comparable with the records of the redelivered batch.

Cost: one consistent GetItem per invocation (the batch's first record), and a write only when
an invocation ends with progress past the point where the next delivery starts.

Item: ``pk = "<scope>#<stream ARN>#<sequence number>"``, ``applied_<processor>`` = the last
sequence number that processor applied (string), ``expires_at`` = epoch seconds for TTL
(two days: streams keep records for 24 hours), and ``covered``: the sequence numbers of the
later records the stored progress covers (comma-separated; at the first record of a batch
whose analytics commit it records, and at every point where the engine records progress past
a failure), where a redelivery starting at this record writes the same progress before
anything else (see ``handlers.batch``: every deeper bisection then finds an entry).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["COVERED", "TTL_SECONDS", "CheckpointStore", "attribute"]

TTL_SECONDS = 2 * 24 * 3600
COVERED = "covered"
_PREFIX = "applied_"


def attribute(processor: str) -> str:
    """Attribute name holding one processor's progress."""
    return _PREFIX + processor


class CheckpointStore:
    """Checkpoint items in a DynamoDB table with a string hash key ``pk``."""

    def __init__(
        self,
        table: str,
        scope: str,
        client: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.scope = scope
        self._client = client
        self._clock = clock

    def key(self, stream_arn: str, sequence_number: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.scope}#{stream_arn}#{sequence_number}"}}

    def expires_at(self) -> str:
        return str(int(self._clock()) + TTL_SECONDS)

    def load_item(self, stream_arn: str, sequence_number: str) -> dict[str, Any]:
        """The raw item for a delivery starting at ``sequence_number`` ({} if none)."""
        response = self._client().get_item(
            TableName=self.table,
            Key=self.key(stream_arn, sequence_number),
            ConsistentRead=True,
        )
        return dict(response.get("Item") or {})

    @staticmethod
    def progress(item: Mapping[str, Any]) -> dict[str, int]:
        """{processor: applied-through sequence number} of a raw item."""
        return {
            name[len(_PREFIX) :]: int(value["S"])
            for name, value in item.items()
            if name.startswith(_PREFIX) and "S" in value and value["S"].isdigit()
        }

    @staticmethod
    def covered(item: Mapping[str, Any]) -> list[str]:
        """The sequence numbers an item's ``covered`` attribute lists ([] without one)."""
        text = (item.get(COVERED) or {}).get("S", "")
        return [s for s in text.split(",") if s.isdigit()] if isinstance(text, str) else []

    def forget_covered(self, stream_arn: str, sequence_number: str) -> None:
        """Remove ``covered`` from the item at ``sequence_number`` (its work is done)."""
        self._client().update_item(
            TableName=self.table,
            Key=self.key(stream_arn, sequence_number),
            UpdateExpression="REMOVE #c",
            ExpressionAttributeNames={"#c": COVERED},
        )

    def load(self, stream_arn: str, sequence_number: str) -> dict[str, int]:
        """Progress recorded for a delivery starting at ``sequence_number``."""
        return self.progress(self.load_item(stream_arn, sequence_number))

    def save(
        self,
        stream_arn: str,
        entries: Mapping[str, Mapping[str, int]],
        covered: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Record progress: {start sequence number: {processor: applied-through}}, and at a
        start ``covered`` names, the later records that progress covers (``COVERED``).

        UpdateItem, not PutItem: an item may hold other attributes (an analytics commit
        plan) that must survive. Called only when an invocation ends with progress past the
        point where the next delivery starts, so at most a few calls in failure cases.
        """
        client = self._client()
        expires = self.expires_at()
        for start, progress in sorted(entries.items()):
            names = {"#e": "expires_at"}
            values: dict[str, Any] = {":e": {"N": expires}}
            sets = ["#e = :e"]
            for i, (processor, through) in enumerate(sorted(progress.items())):
                names[f"#p{i}"] = attribute(processor)
                values[f":p{i}"] = {"S": str(through)}
                sets.append(f"#p{i} = :p{i}")
            later = (covered or {}).get(start)
            if later:
                names["#c"] = COVERED
                values[":c"] = {"S": ",".join(later)}
                sets.append("#c = :c")
            client.update_item(
                TableName=self.table,
                Key=self.key(stream_arn, start),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def update_action(
        self,
        stream_arn: str,
        start: str,
        processor: str,
        through: int,
        covered: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A TransactWriteItems ``Update`` recording one processor's progress (and, given
        ``covered``, the batch's other records: see the module docstring)."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.key(stream_arn, start),
            "UpdateExpression": "SET #p = :through, #e = :expires",
            "ExpressionAttributeNames": {"#p": attribute(processor), "#e": "expires_at"},
            "ExpressionAttributeValues": {
                ":through": {"S": str(through)},
                ":expires": {"N": self.expires_at()},
            },
        }
        if covered:
            update["UpdateExpression"] += ", #c = :covered"
            update["ExpressionAttributeNames"]["#c"] = COVERED
            update["ExpressionAttributeValues"][":covered"] = {"S": ",".join(covered)}
        return {"Update": update}
