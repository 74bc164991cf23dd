"""ETL to S3: each batch becomes gzip-compressed JSON Lines, partitioned Hive-style.

Objects: ``<prefix>table=<table>/dt=YYYY-MM-DD/hour=HH/<first seq, 40 digits>-<label>.jsonl.gz``,
one per contiguous run of records in the same partition (creation time, UTC), so normally one
per partition per batch. The key depends only on the run's first sequence number and the
stream label, never on the invocation, and the body only on the records: every redelivery
Lambda makes (the same batch again, bisected halves, a restart at a reported record) starts at
a record that began a run before, so it overwrites that object or writes records that no
object holds yet. A restart caused by another processor of a pipeline is skipped by the
engine (checkpoint). What remains, and its bounds, is documented in docs/etl.md.

A batch's objects are written concurrently (up to 10 at once, botocore's connection pool:
``handlers.lanes.run_calls``), each started only when the time budget allows it and every
earlier one was started. When one fails, the outcome is its first record (every earlier
object was written); objects of later runs written meanwhile start at records that begin a
run in the redelivery too, so it overwrites them.

Line: ``eventID``, ``eventName``, ``sequenceNumber``, ``approximateCreationDateTime``,
``keys``, ``newImage``, ``oldImage`` (each image absent when the record has none),
``ttlExpired``; images come straight from the typed values (``stream.image_to_json``).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json import dumps as _json_dumps
from typing import Any

from handlers import aws, coldstart, retry
from handlers.batch import Batch, Failure, Outcome, run_batch
from handlers.codec import RecordError, image_to_json
from handlers.config import ConfigError, env_key_prefix, env_required
from handlers.lanes import NO_KEYS, Call, run_calls
from handlers.stream import StreamRecord

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_PREFIX",
    "GZIP_LEVEL",
    "EtlProcessor",
    "Run",
    "build",
    "handler",
    "object_key",
    "processor",
    "table_segment",
]

DEFAULT_PREFIX = "changes/"
# zlib level 6: gzip's own default, a good size/CPU trade-off for JSON text.
GZIP_LEVEL = 6
CONTENT_TYPE = "application/gzip"
SEQUENCE_WIDTH = 40
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]\Z")
_TABLE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_DOTS = re.compile(r"\.{2,}")
_EVENT_NAME_JSON = {
    "INSERT": '","eventName":"INSERT","sequenceNumber":"',
    "MODIFY": '","eventName":"MODIFY","sequenceNumber":"',
    "REMOVE": '","eventName":"REMOVE","sequenceNumber":"',
}
_HOUR_CACHE_LIMIT = 4096
_NEW = ',"newImage":'
_OLD = ',"oldImage":'
_TTL_TRUE = ',"ttlExpired":true}\n'
_TTL_FALSE = ',"ttlExpired":false}\n'


# --------------------------------------------------------------------------------------
# Naming
# --------------------------------------------------------------------------------------


def table_segment(name: str) -> str:
    """The partition value for a table name: Hive-style %XX escaping of anything outside
    DynamoDB's alphabet ``[A-Za-z0-9_.-]`` and of every run of two or more dots, so the
    segment can never hold '/', '..' or '%' unescaped. A valid table name without '..' is
    returned unchanged. Raises RecordError for an empty name."""
    if not name:
        raise RecordError("the stream ARN (eventSourceARN) names no table")
    if all(c in _TABLE_SAFE for c in name) and ".." not in name:
        return name
    escaped = "".join(
        c if c in _TABLE_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
        for c in name
    )
    return _DOTS.sub(lambda m: "%2E" * len(m.group()), escaped)


def _label_digits(arn: str) -> str:
    """Digits (and 'T') of the stream label: '2026-01-01T00:00:00.000' -> '20260101T000000000'."""
    _, sep, label = arn.partition("/stream/")
    digits = "".join(c for c in label if c.isascii() and (c.isdigit() or c == "T"))
    if not sep or not any(c.isdigit() for c in digits):
        raise RecordError(
            f"the stream ARN (eventSourceARN) {arn!r:.200} has no stream label "
            "(expected arn:...:table/NAME/stream/LABEL)"
        )
    return digits


def object_key(partition: str, first_sequence_number: str, label: str) -> str:
    """``<partition><sequence number, zero-padded to 40 digits>-<label digits>.jsonl.gz``."""
    return f"{partition}{first_sequence_number.zfill(SEQUENCE_WIDTH)}-{label}.jsonl.gz"


# --------------------------------------------------------------------------------------
# Processor
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """Records ``start`` to ``start + len(lines)`` of a slice, all in one partition."""

    start: int
    key: str
    first_sequence_number: str
    last_sequence_number: str = ""
    lines: list[bytes] = field(default_factory=list)

    def body(self) -> bytes:
        """The object's bytes: gzip (fixed mtime, so deterministic) of the JSON Lines."""
        return gzip.compress(b"".join(self.lines), compresslevel=GZIP_LEVEL, mtime=0)


class EtlProcessor:
    """Writes each batch to S3 as gzip JSON Lines objects, one per partition run."""

    name = "etl"

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: Callable[[], Any],
        workers: int = aws.DEFAULT_POOL,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.workers = workers
        self._client = client
        self._hours: dict[int, tuple[str, str]] = {}

    def _hour(self, hour: int) -> tuple[str, str]:
        """(``dt=YYYY-MM-DD/hour=HH/``, ``YYYY-MM-DDTHH:``) of an epoch hour, cached."""
        found = self._hours.get(hour)
        if found is None:
            try:
                t = datetime.fromtimestamp(hour * 3600, UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise RecordError(
                    f"dynamodb.ApproximateCreationDateTime is out of range ({exc})"
                ) from None
            day = f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
            found = (f"dt={day}/hour={t.hour:02d}/", f"{day}T{t.hour:02d}:")
            if len(self._hours) >= _HOUR_CACHE_LIMIT:
                self._hours.clear()
            self._hours[hour] = found
        return found

    def plan(self, records: Sequence[StreamRecord]) -> tuple[list[Run], int, str]:
        """Encode records into runs, stopping at the first record that cannot be encoded.

        Returns (runs, stop, reason): runs hold records[:stop]; ``stop < len(records)`` means
        records[stop] is a poison record for ``reason``.
        """
        runs: list[Run] = []
        if not records:
            return runs, 0, ""
        try:
            table_dir = f"{self.prefix}table={table_segment(records[0].table_name)}/"
            label = _label_digits(records[0].stream_arn)
        except RecordError as exc:
            return runs, 0, str(exc)
        hours = self._hours
        run: Run | None = None
        run_hour: int | None = None
        last_time: object = None
        iso = ""
        for i, record in enumerate(records):
            try:
                record.check()
                raw = record.raw
                block = record.dynamodb
                seq = block.get("SequenceNumber")
                if type(seq) is not str or not seq.isdigit():
                    raise RecordError(f"dynamodb.SequenceNumber {seq!r:.60} is not a number")
                value = block.get("ApproximateCreationDateTime")
                if type(value) is not int:
                    value = int(record.creation_time.timestamp())
                hour, seconds = divmod(value, 3600)
                found = hours.get(hour)
                hour_dir, hour_iso = found if found is not None else self._hour(hour)
                if value != last_time:
                    minute, second = divmod(seconds, 60)
                    iso = f"{hour_iso}{minute:02d}:{second:02d}Z"
                    last_time = value
                event_id = raw.get("eventID")
                if type(event_id) is not str or not event_id.isalnum():
                    event_id = _json_dumps(record.event_id, ensure_ascii=False)[1:-1]
                name = _EVENT_NAME_JSON.get(raw["eventName"])
                if name is None:  # a str subclass that passed check(); normalise it
                    name = _EVENT_NAME_JSON[record.event_name.value]
                # image_to_json rejects an image that is not an attribute map (MalformedValue).
                new = block.get("NewImage")
                old = block.get("OldImage")
                ident = raw.get("userIdentity")
                line = (
                    f'{{"eventID":"{event_id}{name}{seq}'
                    f'","approximateCreationDateTime":"{iso}'
                    f'","keys":{image_to_json(block["Keys"], "Keys")}'
                    f"{'' if new is None else _NEW + image_to_json(new, 'NewImage')}"
                    f"{'' if old is None else _OLD + image_to_json(old, 'OldImage')}"
                    f"{_TTL_TRUE if ident is not None and record.ttl_expired else _TTL_FALSE}"
                ).encode()
            except UnicodeEncodeError as exc:
                return runs, i, f"a string is not valid Unicode ({exc.reason})"
            except RecordError as exc:
                return runs, i, str(exc)
            if hour != run_hour or run is None:
                run = Run(i, object_key(table_dir + hour_dir, seq, label), seq)
                runs.append(run)
                run_hour = hour
            run.lines.append(line)
            run.last_sequence_number = seq
        return runs, len(records), ""

    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        runs, stop, reason = self.plan(records)
        late: list[Outcome] = []

        def calls() -> Iterator[Call[Run]]:
            for run in runs:
                # Checked here, in run order: a run starts only when every earlier one did.
                if batch.budget.expired():
                    location = f"s3://{self.bucket}/{run.key}"
                    late.append(
                        Outcome(
                            run.start,
                            Failure.TIME,
                            f"time budget ran out before writing {location}",
                        )
                    )
                    return
                yield run.start, NO_KEYS, run

        written = run_calls(calls(), self._put, self.workers)
        if written is not None:
            return written
        if late:
            return late[0]
        if stop < len(records):
            return Outcome(stop, Failure.POISON, reason)
        return Outcome(len(records))

    def _put(self, run: Run) -> Outcome | None:
        """Write one run's object; the failure at its first record, or None.

        The first attempt only creates the object (``If-None-Match: *``). S3 answers 412 when
        it exists: an earlier delivery that started at the same record wrote it, and this
        one replaces it (the same records, or fewer: a first bisected half). So a write of
        an earlier delivery still on its way when that function died, which S3 may apply
        after this delivery wrote, cannot put its records back (docs/etl.md)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": run.key,
            "Body": run.body(),
            "ContentType": CONTENT_TYPE,
            "Metadata": {
                "records": str(len(run.lines)),
                "first-sequence-number": run.first_sequence_number,
                "last-sequence-number": run.last_sequence_number,
            },
        }
        try:
            try:
                client.put_object(**params, **_create_only(client))
            except ClientError as exc:
                if aws.error_code(exc) != "PreconditionFailed":
                    raise
                client.put_object(**params)
        except (BotoCoreError, ClientError) as exc:
            # handlers.errors: an object holds many records, so S3 never names a poison
            # record; throttling and 5xx were retried (handlers.retry) before this.
            detail = aws.error_code(exc) or type(exc).__name__
            location = f"s3://{self.bucket}/{run.key}"
            return Outcome(
                run.start, Failure.TRANSIENT, f"PutObject {location} failed: {detail}: {exc}"
            )
        return None


def _create_only(client: Any) -> dict[str, str]:
    """``IfNoneMatch="*"`` when the client's botocore knows S3's conditional writes (its
    S3 model has them since S3 launched them, August 2024); an older one, or a stand-in
    without a service model (the benchmarks' counting client), writes unconditionally."""
    meta = getattr(client, "meta", None)
    if meta is None:
        return {}
    shape = meta.service_model.operation_model("PutObject").input_shape
    return {"IfNoneMatch": "*"} if "IfNoneMatch" in shape.members else {}


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def build(env: Mapping[str, str]) -> EtlProcessor:
    """The processor configured by ``ETL_BUCKET`` and ``ETL_PREFIX`` (validated)."""
    bucket = env_required(
        env, "ETL_BUCKET", "the name of the S3 bucket the ETL processor writes objects to"
    )
    if not (_BUCKET.match(bucket) or bucket.startswith("arn:")):
        raise ConfigError(
            f"environment variable ETL_BUCKET={bucket!r:.100} is not a bucket name: expected "
            "3 to 63 letters, digits, '.', '-' or '_' (a name, not an s3:// URL), or an "
            "access point ARN"
        )
    prefix = env_key_prefix(env, "ETL_PREFIX", DEFAULT_PREFIX)
    aws.reserve("s3", EtlProcessor.name, aws.DEFAULT_POOL)
    return EtlProcessor(bucket, prefix, lambda: aws.client("s3"))


def processor() -> EtlProcessor:
    """The processor for this runtime, built once per cold start from the environment."""
    return coldstart.once("etl", build)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point ``handlers.etl.handler``."""
    return run_batch(event, context, [processor()], coldstart.checkpoint_store())
