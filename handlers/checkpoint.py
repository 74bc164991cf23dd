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
later records the stored progress covers (at the first record of a batch whose analytics
commit it records, and at every point where the engine records progress past a failure),
where a redelivery starting at this record writes the same progress before anything else
(see ``handlers.batch``: every deeper bisection then finds an entry).

``covered`` encoding (``encode_covered``, ``decode_covered``): ``+`` then, comma-separated in
hex, the first covered sequence number's distance from the entry's own and each next one's
distance from the one before. Exact (a range would be wrong: with ParallelizationFactor
above 1 a batch holds only some of the shard's records) and compact: a DynamoDB stream
mapping delivers up to 10,000 records a batch and sequence numbers have 21 to 40 digits, so
the decimal list (0.2.0's form, still read: its items live two days) took up to 400 KB, an
item's whole limit. A list over ``COVERED_BYTES`` is refused (``CoveredTooLarge``).
"""

from __future__ import annotations

import contextvars
import itertools
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

__all__ = [
    "COVERED",
    "COVERED_BYTES",
    "SAVE_CALLS_AT_ONCE",
    "TTL_SECONDS",
    "CheckpointStore",
    "CoveredTooLarge",
    "attribute",
    "check_covered",
    "covered_numbers",
    "decode_covered",
    "encode_covered",
]

TTL_SECONDS = 2 * 24 * 3600
COVERED = "covered"
# An item holds at most one ``covered`` list, and an analytics plan (at most 300,000 bytes,
# handlers.analytics.PLAN_BYTES, its own copy of the list included): both fit in
# DynamoDB's 400 KB (409,600 bytes) with room for the key and the other attributes.
COVERED_BYTES = 100_000
# UpdateItems of one ``save`` in flight at once: botocore's default pool, which every client
# of ours keeps at least (handlers.aws.DEFAULT_POOL), so none waits for a connection.
SAVE_CALLS_AT_ONCE = 10
_PREFIX = "applied_"
_HEX = "+"  # marks the hex-delta form of ``covered`` (0.2.0 wrote decimal numbers only)


class CoveredTooLarge(ValueError):
    """The records a checkpoint entry would cover do not fit in ``COVERED_BYTES``."""


def encode_covered(start: int, later: Sequence[int], limit: int | None = COVERED_BYTES) -> str:
    """The ``covered`` text for the entry at ``start`` covering ``later`` (increasing
    sequence numbers of the same shard); "" for none. Raises ``CoveredTooLarge`` past
    ``limit`` bytes (None: no limit)."""
    if not later:
        return ""
    # Each number's gap from the one before, in hex. Maps of C functions (no frame per gap),
    # and hex() then "0x" dropped: format(gap, "x") parses its spec every call ("-0x5" ->
    # "-5" as format writes it; no hex digit is an "x").
    gaps = map(operator.sub, later, (start, *later))
    text = _HEX + ",".join(map(hex, gaps)).replace("0x", "")
    if limit is not None and len(text) > limit:
        fit = len(later) * limit // len(text)
        raise CoveredTooLarge(
            f"a batch of {len(later) + 1} records: the list of the records a checkpoint entry "
            f"covers takes {len(text)} bytes (the limit is {limit}, for DynamoDB's 400 KB "
            f"item); lower the event source mapping's BatchSize (the module's batch_size): "
            f"about {fit} records fit at these sequence number gaps"
        )
    return text


def check_covered(start: int, last: int, count: int, later: Callable[[], Sequence[int]]) -> None:
    """Raise ``CoveredTooLarge`` if a batch's ``count`` records after ``start`` (the last one
    ``last``; ``later()`` lists them) cannot be covered. A bound settles it without
    ``later()`` in the common case (every gap is at most the whole span); the list any
    entry of the batch covers is never longer than the whole batch's."""
    if count < 1 or (len(format(last - start, "x")) + 1) * count < COVERED_BYTES:
        return
    encode_covered(start, later())


def decode_covered(start: str, text: str) -> list[str]:
    """The sequence numbers a ``covered`` text lists, for the entry at ``start`` (either
    form: ``encode_covered``'s, or 0.2.0's comma-separated decimal numbers)."""
    if not text.startswith(_HEX):
        return [s for s in text.split(",") if s.isdigit()]
    return list(map(str, covered_numbers(start, text)))


def covered_numbers(start: str, text: str) -> list[int]:
    """``decode_covered`` as integers (``int`` of each; C maps, no frame per number)."""
    if not text.startswith(_HEX):
        return [int(s) for s in text.split(",") if s.isdigit()]
    gaps = map(int, text[len(_HEX) :].split(","), itertools.repeat(16))
    numbers = itertools.accumulate(gaps, initial=int(start))
    next(numbers)  # the entry's own
    return list(numbers)


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
    def covered(item: Mapping[str, Any], sequence_number: str) -> list[str]:
        """The sequence numbers the ``covered`` attribute of the item at ``sequence_number``
        lists ([] without one)."""
        text = (item.get(COVERED) or {}).get("S", "")
        return decode_covered(sequence_number, text) if isinstance(text, str) and text else []

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
        covered: Mapping[str, str] | None = None,
    ) -> None:
        """Record progress: {start sequence number: {processor: applied-through}}, and at a
        start ``covered`` names, the later records that progress covers (``COVERED``, as
        ``encode_covered`` wrote them).

        UpdateItem, not PutItem: an item may hold other attributes (an analytics commit
        plan) that must survive. Called when an invocation ends with progress past the
        point where the next delivery starts (a few entries), and by a redelivery that
        finds a ``covered`` list: one entry per listed record, up to a whole batch (10,000
        at the largest ``BatchSize``), so the calls overlap, ``SAVE_CALLS_AT_ONCE`` at a
        time (each in a copy of the caller's context: retries keep the invocation's
        budget). The entries are independent; any failure is raised once every call ended.
        """
        client = self._client()
        calls = self._progress_updates(stream_arn, entries, covered or {})
        if len(calls) <= 1:  # none or one: no thread to start
            for call in calls:
                client.update_item(**call)
            return
        with ThreadPoolExecutor(
            max_workers=min(SAVE_CALLS_AT_ONCE, len(calls)), thread_name_prefix="checkpoint"
        ) as pool:
            done = [
                pool.submit(contextvars.copy_context().run, partial(client.update_item, **call))
                for call in calls
            ]
        for future in done:
            future.result()

    def _progress_updates(
        self,
        stream_arn: str,
        entries: Mapping[str, Mapping[str, int]],
        covered: Mapping[str, str],
    ) -> list[dict[str, Any]]:
        """The UpdateItem requests of ``save``, in sequence-number order."""
        expires = self.expires_at()
        calls: list[dict[str, Any]] = []
        for start, progress in sorted(entries.items()):
            names = {"#e": "expires_at"}
            values: dict[str, Any] = {":e": {"N": expires}}
            sets = ["#e = :e"]
            for i, (processor, through) in enumerate(sorted(progress.items())):
                names[f"#p{i}"] = attribute(processor)
                values[f":p{i}"] = {"S": str(through)}
                sets.append(f"#p{i} = :p{i}")
            later = covered.get(start)
            if later:
                names["#c"] = COVERED
                values[":c"] = {"S": later}
                sets.append("#c = :c")
            calls.append(
                {
                    "TableName": self.table,
                    "Key": self.key(stream_arn, start),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            )
        return calls

    def update_action(
        self,
        stream_arn: str,
        start: str,
        processor: str,
        through: int,
        covered: str = "",
    ) -> dict[str, Any]:
        """A TransactWriteItems ``Update`` recording one processor's progress (and, given
        ``covered`` from ``encode_covered``, the batch's other records: see the module
        docstring)."""
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
            update["ExpressionAttributeValues"][":covered"] = {"S": covered}
        return {"Update": update}
