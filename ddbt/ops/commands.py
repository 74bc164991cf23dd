"""Argument wiring of ``ddbt backfill|redrive|replay|generate-event|tail`` (the logic lives
in the sibling modules). Clients use the normal credential chain and ``AWS_ENDPOINT_URL``
(or ``--endpoint-url``), so the same command works against ``ddbt local`` and real AWS."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["add_parsers"]


def _setup(args: argparse.Namespace) -> None:
    # In-process processors create their clients from the environment (handlers.aws).
    from ddbt import aws

    if getattr(args, "endpoint_url", None):
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    aws.export_region(aws.require_region(getattr(args, "region", None)))


def _client(args: argparse.Namespace, service: str) -> Any:
    from ddbt import aws

    return aws.client(service, args.region)


def _env(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    if args.env_file:
        data = json.loads(Path(args.env_file).read_text())
        data = data.get("Variables", data) if isinstance(data, dict) else data
        env.update({str(k): str(v) for k, v in data.items()})
    for pair in args.env:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"ddbt: --env expects NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _processor_names() -> str:
    """What --processor takes by name: the registry's processors and the pipeline."""
    from handlers.registry import ENTRY_POINTS

    return ", ".join(ENTRY_POINTS)


def _target(args: argparse.Namespace) -> Any:
    from ddbt.ops.target import LambdaTarget, in_process

    if getattr(args, "invoke", False):
        if not args.function:
            raise SystemExit("ddbt: --invoke needs --function")
        return LambdaTarget(args.function, _client(args, "lambda"))
    if not args.processor and not args.function:
        raise SystemExit(f"ddbt: name --processor ({_processor_names()}) or --function")
    try:
        return in_process(
            args.processor, _env(args), args.function, lambda: _client(args, "lambda")
        )
    except Exception as exc:  # ConfigError and friends: say which variable is wrong
        raise SystemExit(f"ddbt: cannot build the processor: {exc}") from None


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM: finish the current batch (checkpoint written), then stop; a second
    signal aborts. The previous handlers are restored afterwards."""
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nddbt: stopping after the current batch (again to abort)", file=sys.stderr)
        stop.set()

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, on_signal)
    try:
        yield stop
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _epoch(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _s3_url(text: str) -> tuple[str, str]:
    if not text.startswith("s3://"):
        raise SystemExit(f"ddbt: expected s3://BUCKET/PREFIX, got {text!r}")
    bucket, _, prefix = text[5:].partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


# -- commands ----------------------------------------------------------------------------
def cmd_backfill(args: argparse.Namespace) -> int:
    from ddbt.ops.backfill import BackfillOptions, backfill
    from ddbt.ops.progress import Progress

    _setup(args)
    ddb = _client(args, "dynamodb")
    target = _target(args)
    checkpoint = Path(args.checkpoint or f"build/backfill/{args.table}.json")
    total = ddb.describe_table(TableName=args.table)["Table"].get("ItemCount") or None
    opts = BackfillOptions(
        table=args.table,
        checkpoint=checkpoint,
        segments=args.segments,
        page_size=args.page_size,
        batch_size=args.batch_size,
        consistent_read=args.consistent_read,
        read_units=args.read_units,
        view_type=args.view_type,
        dry_run=args.dry_run,
    )
    with _stop_on_signals() as stop, contextlib.redirect_stdout(sys.stderr):
        # the processors' JSON log lines go to stderr with the progress; stdout: the report
        report = backfill(opts, ddb, target, Progress("backfill", total), stop)
    print(report.summary())
    for error in report.errors:
        print(f"  {error}")
    print(f"  checkpoint {checkpoint}" + (" (dry run: not written)" if args.dry_run else ""))
    return 0 if report.complete and not report.failed else 1


def cmd_redrive(args: argparse.Namespace) -> int:
    from ddbt.ops.progress import Progress
    from ddbt.ops.redrive import redrive_s3

    _setup(args)
    if args.from_s3:
        bucket, prefix = _s3_url(args.from_s3)
        with contextlib.redirect_stdout(sys.stderr):  # processor logs
            report = redrive_s3(
                s3=_client(args, "s3"),
                bucket=bucket,
                prefix=prefix,
                target=_target(args),
                dry_run=args.dry_run,
                progress=Progress("redrive"),
                lambda_client=_client(args, "lambda"),
                accept_mismatch=args.accept_mismatch,
            )
    else:
        if not args.queue:
            raise SystemExit("ddbt: name the DLQ (--queue) or an S3 destination (--from-s3)")
        report = _redrive_queue(args)
    for line in report.lines():
        print(line)
    left = sum(report.count(s) for s in ("expired", "failed", "invalid", "mismatch"))
    return 1 if left else 0


def _redrive_queue(args: argparse.Namespace) -> Any:
    from ddbt.ops.progress import Progress
    from ddbt.ops.redrive import redrive

    sqs = _client(args, "sqs")
    url = args.queue
    if not url.startswith("https://") and not url.startswith("http://"):
        name = url.rsplit(":", 1)[-1] if url.startswith("arn:") else url
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    to_s3 = _s3_url(args.to_s3) if args.to_s3 else None
    with contextlib.redirect_stdout(sys.stderr):  # processor logs
        report = redrive(
            sqs=sqs,
            streams=_client(args, "dynamodbstreams"),
            queue_url=url,
            target=None if to_s3 else _target(args),
            s3=_client(args, "s3") if to_s3 else None,
            to_s3=to_s3,
            dry_run=args.dry_run,
            max_messages=args.max_messages,
            visibility_timeout=args.visibility_timeout,
            progress=Progress("redrive"),
            lambda_client=_client(args, "lambda"),
            accept_mismatch=args.accept_mismatch,
        )
    return report


def cmd_replay(args: argparse.Namespace) -> int:
    from ddbt.ops.progress import Progress
    from ddbt.ops.replay import replay
    from ddbt.ops.stream_reading import read_stream, stream_of

    _setup(args)
    invoke = _target(args) if args.invoke else None
    if invoke is not None:
        args.invoke = False  # the in-process target below only says what to skip
    target = _target(args)
    records: Any
    if args.from_archive:
        # gzip or plain JSON Lines, with or without the archiver's header line; filtered
        # and checked against the failed batch (ddbt.ops.redrive.archive_records)
        from ddbt.ops.redrive import archive_records
        from handlers.archive import read_archive as parse_archive

        if args.from_archive.startswith("s3://"):
            bucket, key = args.from_archive[5:].split("/", 1)
            body = _client(args, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            body = Path(args.from_archive).read_bytes()
        try:
            records = archive_records(
                parse_archive(body), _client(args, "lambda"), args.accept_mismatch
            )
        except ValueError as exc:
            raise SystemExit(f"ddbt: {args.from_archive}: {exc}") from None
    else:
        arn = args.stream_arn or stream_of(_client(args, "dynamodb"), args.table)
        records = read_stream(
            _client(args, "dynamodbstreams"),
            arn,
            shard=args.shard,
            from_seq=args.from_seq,
            to_seq=args.to_seq,
            since=_epoch(args.since),
            until=_epoch(args.until),
            matcher=_mapping_matcher(args, arn),
        )
    try:
        with contextlib.redirect_stdout(sys.stderr):  # processor logs
            report = replay(
                records,
                target.processors,
                mode=args.mode,
                dynamodb=_client(args, "dynamodb"),
                store=target.store,
                batch_size=args.batch_size,
                dry_run=args.dry_run,
                progress=Progress("replay"),
                recompute=_recompute_options(args, target) if args.mode == "overwrite" else None,
                invoke=invoke,
            )
    except ValueError as exc:
        raise SystemExit(f"ddbt: {exc}") from None
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def _mapping_matcher(args: argparse.Namespace, stream_arn: str) -> Any:
    """With --function, the filters of its mapping from ``stream_arn``: records they drop
    were never delivered to it, so a replay leaves them out too. None without --function or
    when the function has no mapping from the stream."""
    if not args.function:
        return None
    from handlers.archive import NoMapping, find_source_mapping, matcher_of
    from handlers.filters import FilterError

    try:
        mapping = find_source_mapping(_client(args, "lambda"), args.function, stream_arn)
        return matcher_of(mapping.filters)
    except NoMapping:
        return None
    except FilterError as exc:
        raise SystemExit(f"ddbt: --function {args.function}: {exc}") from None


def _recompute_options(args: argparse.Namespace, target: Any) -> Any:
    """History sources of analytics' overwrite: the stream, and the ETL archive given with
    --archive or, by default, the target's own ETL bucket/prefix; the window size given with
    --window-seconds or read from --function's stream mapping."""
    from ddbt.ops.recompute import RecomputeOptions

    archive = _s3_url(args.archive) if args.archive else None
    if archive is None:
        etl = [p for p in target.processors if p.name == "etl"]
        archive = (etl[0].bucket, etl[0].prefix) if etl else None
    window = args.window_seconds
    matcher = None
    if args.function:
        from handlers.filters import FilterError, compile_filters, mapping_patterns

        lam = _client(args, "lambda")
        mappings = lam.list_event_source_mappings(FunctionName=args.function)["EventSourceMappings"]
        if window is None:
            window = max((m.get("TumblingWindowInSeconds") or 0 for m in mappings), default=0)
        try:  # the history counts only what the function's filters deliver
            patterns = {
                json.dumps(mapping_patterns(m))
                for m in mappings
                if ":dynamodb:" in str(m.get("EventSourceArn"))
            }
        except FilterError as exc:
            raise SystemExit(f"ddbt: --function {args.function}: {exc}") from None
        if len(patterns) > 1:
            raise SystemExit(
                f"ddbt: --function {args.function} reads streams with different filters; "
                "recompute one table at a time from a function with one mapping"
            )
        if patterns:
            texts = json.loads(patterns.pop())
            if texts:
                matcher = compile_filters({"Filters": [{"Pattern": t} for t in texts]})
    return RecomputeOptions(
        streams=_client(args, "dynamodbstreams"),
        s3=_client(args, "s3"),
        archive=archive,
        window_seconds=int(window or 0),
        matcher=matcher,
    )


def _json_item(text: str, what: str) -> Any:
    from decimal import Decimal

    try:
        item = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise SystemExit(f"ddbt: {what} is not valid JSON ({exc})") from None
    if not isinstance(item, dict) or not item:
        raise SystemExit(f'ddbt: {what} must be a JSON object with attributes, e.g. {{"pk": "a"}}')
    return item


def cmd_generate_event(args: argparse.Namespace) -> int:
    from ddbt import aws
    from ddbt.ops.records import generate_event, parse_key_values
    from ddbt.ops.samples import sample_event

    region = aws.region(args.region)
    if not args.item:
        if args.keys or args.old_item:
            raise SystemExit("ddbt: --keys and --old-item describe an item: give the item too")
        event = sample_event(
            args.view_type, args.event_name, table=args.table, region=region, ttl=args.ttl
        )
        print(json.dumps(event, indent=2, ensure_ascii=False))
        return 0
    if args.item.lstrip().startswith("{"):
        item = _json_item(args.item, "the item")
        if args.values:
            raise SystemExit("ddbt: give the item as JSON or as NAME=VALUE pairs, not both")
    else:
        try:
            item = parse_key_values([args.item, *args.values])
        except ValueError as exc:
            raise SystemExit(f"ddbt: {exc}") from None
    old = _json_item(args.old_item, "--old-item") if args.old_item else None
    keys = [k for k in args.keys.split(",") if k] if args.keys else [next(iter(item))]
    try:
        event = generate_event(
            item=item,
            key_names=keys,
            event_name=args.event_name,
            view_type=args.view_type,
            old_item=old,
            table=args.table or "my-table",
            region=region or "us-east-1",
            ttl=args.ttl,
        )
    except ValueError as exc:
        raise SystemExit(f"ddbt: {exc}") from None
    print(json.dumps(event, indent=2, ensure_ascii=False))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from ddbt.ops.stream_reading import stream_of
    from ddbt.ops.tail import follow

    _setup(args)
    arn = args.stream_arn or stream_of(_client(args, "dynamodb"), args.table)
    print(f"following {arn} (Ctrl-C to stop)", file=sys.stderr)
    with _stop_on_signals() as stop:
        follow(
            _client(args, "dynamodbstreams"),
            arn,
            lambda line: print(line, flush=True),
            from_start=args.from_start,
            stop=stop,
            max_records=args.max_records,
            idle_exit=args.idle_exit,
            poll=args.poll,
        )
    return 0


# -- parsers -----------------------------------------------------------------------------

BACKFILL = """\
Scan a table and run every existing item through a processor, as an INSERT change in the
shape the table's stream delivers (its view type), so that aggregates, archives, views and
replicas also cover the items written before the stream and trigger existed.

  ddbt backfill jobs --function jobs-pipeline --segments 8 --read-units 200

Enable the stream and the trigger first: changes made during the scan then arrive through
the stream. The scan runs in parallel segments, optionally rate-limited in read capacity
units per second. Progress is saved after every batch in a checkpoint file: Ctrl-C stops
after the current batch, and the same command resumes where it stopped. Backfilled records
get 41-digit sequence numbers, which never equal a real stream record's (21 to 40 digits).
A failed record stops its segment; fix the cause and run the command again.
Exit status: 0 done, 1 records failed or the scan is incomplete, 2 it could not run.
"""
REDRIVE = """\
Run again the records of failed batches: those an SQS dead-letter queue's messages describe
(read back from the stream, which keeps them 24 hours), or those kept in S3 (an S3 on-failure
destination, or the archives of the DLQ archiver and of --to-s3).

  ddbt redrive --queue jobs-pipeline-dlq --function jobs-pipeline
  ddbt redrive --queue jobs-pipeline-dlq --to-s3 s3://ops-archive/dlq/
  ddbt redrive --from-s3 s3://jobs-dlq-archive-123456789012/dlq-archive/ --function jobs-pipeline

A message (or object) is deleted only when every record it describes succeeded; one whose
records fail again, or are no longer in the stream, is reported and left. --to-s3 archives
the records instead of running them, then deletes the message.
Exit status: 0 all done, 1 something was left, 2 it could not run.
"""
REPLAY = """\
Run processors again over part of a table's stream (by sequence numbers or by time) or over
an archive, after a fix. The mode is required:

  skip       leave out what each processor already applied (exact for analytics; the
             others record progress only after failures, and the report says so)
  overwrite  run every record again; analytics recomputes the affected aggregates from
             the table's whole history (stream and ETL archive) instead of counting twice

  ddbt replay --table jobs --function jobs-pipeline --mode skip --since 2026-01-01T10:00:00Z
  ddbt replay --from-archive s3://ops-archive/dlq/jobs/shardId-0001/a-b.jsonl.gz \\
      --processor etl --env ETL_BUCKET=lake --mode overwrite

Exit status: 0 done, 1 records failed or a recompute was refused, 2 it could not run.
"""
GENERATE = """\
Print a Lambda event with one DynamoDB stream record, to invoke a function with (sam local
invoke -e, aws lambda invoke --payload). Without an item it prints the example event of the
Lambda developer guide (item Id 101 of ExampleTableWithStream) for the view type and event
name you ask for; with an item, a record of that item.

  ddbt generate-event --view-type NEW_IMAGE --event-name INSERT
  ddbt generate-event '{"pk": "job-1", "status": "OPEN"}' --event-name MODIFY \\
      --old-item '{"pk": "job-1", "status": "NEW"}'
  ddbt generate-event pk=job-1 status=OPEN score=87.5 > event.json

Numbers stay exact, JSON lists become L, typed items ({"pk": {"S": "a"}}) pass through.
"""
TAIL = """\
Follow a table's stream and print each change as it happens: the time, the event, the keys,
then the new or old item, or for a MODIFY with both images the attributes that changed.
Binary values are shown in base64, as the AWS CLI shows them.

  ddbt tail jobs
  10:00:05 MODIFY {"pk": "job-7"} +owner: "ann"; status: "OPEN" -> "CLOSED"

Every shard is followed from the latest change (--from-start: from the oldest kept), and new
shards are picked up. Ctrl-C stops it; --max-records and --idle-exit end it in scripts.
"""


def _aws(p: argparse.ArgumentParser) -> None:
    from ddbt.aws import ENDPOINT_HELP, REGION_HELP

    p.add_argument("--region", help=REGION_HELP)
    p.add_argument("--endpoint-url", help=ENDPOINT_HELP)


def _processor(p: argparse.ArgumentParser, invoke: bool = True) -> None:
    g = p.add_argument_group(
        "what runs the records (in this process, configured like the function)"
    )
    g.add_argument(
        "--processor",
        help=f"a processor by name: {_processor_names()}; configure it with --env",
    )
    g.add_argument(
        "--function",
        help="a deployed function: its handler and environment variables configure the "
        "processor (--env and --env-file override them)",
    )
    g.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="an environment variable"
    )
    g.add_argument(
        "--env-file", help='a JSON file: {"NAME": "VALUE"} (or the function\'s {"Variables": ...})'
    )
    if invoke:
        g.add_argument(
            "--invoke",
            action="store_true",
            help="invoke the deployed --function (one synchronous invocation per batch) "
            "instead of running in this process",
        )


def _accept_mismatch(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept-mismatch",
        action="store_true",
        help="run records that are not known to be the failed batch (their count differs "
        "from its batchSize, or the mapping's filters are unknown): they may include "
        "records Lambda never delivered or already processed",
    )


def add_parsers(top: Any) -> None:
    """Register the operations subcommands on the top-level subparsers of ``ddbt``."""

    def command(name: str, description: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = top.add_parser(
            name,
            help=help,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return parser

    p = command(
        "backfill", BACKFILL, help="run a table's existing items through a processor (resumable)"
    )
    p.add_argument("table", help="the table whose items are backfilled")
    _aws(p)
    _processor(p)
    p.add_argument("--checkpoint", help="resume file (default build/backfill/<table>.json)")
    p.add_argument("--segments", type=int, default=4, help="parallel scan segments (default 4)")
    p.add_argument("--page-size", type=int, default=1000, help="items per Scan page (default 1000)")
    p.add_argument(
        "--batch-size", type=int, default=100, help="records per processor batch (default 100)"
    )
    p.add_argument("--consistent-read", action="store_true", help="strongly consistent scan")
    p.add_argument("--read-units", type=float, help="rate limit in read capacity units/second")
    p.add_argument("--view-type", help="records in this view type (default: the stream's)")
    p.add_argument(
        "--dry-run", action="store_true", help="scan and count; run nothing, write nothing"
    )
    p.set_defaults(func=cmd_backfill)

    p = command("redrive", REDRIVE, help="run again (or archive) the records of failed batches")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--queue", help="the dead-letter queue: URL, name or ARN")
    src.add_argument(
        "--from-s3",
        metavar="s3://BUCKET/PREFIX",
        help="objects of an S3 on-failure destination, or DLQ archives (*.jsonl.gz)",
    )
    _aws(p)
    _processor(p)
    p.add_argument("--to-s3", metavar="s3://BUCKET/PREFIX", help="archive instead of running")
    _accept_mismatch(p)
    p.add_argument("--dry-run", action="store_true", help="fetch and report; run/delete nothing")
    p.add_argument("--max-messages", type=int, help="stop after this many messages")
    p.add_argument(
        "--visibility-timeout",
        type=int,
        default=300,
        help="seconds a received message stays hidden meanwhile (default 300)",
    )
    p.set_defaults(func=cmd_redrive)

    p = command(
        "replay",
        REPLAY,
        help="run processors again over a stream range, a time range or an archive",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--table", help="the table whose stream is read")
    src.add_argument("--stream-arn", help="the stream to read")
    src.add_argument(
        "--from-archive",
        help="an archive file or s3://BUCKET/KEY (DLQ archiver, redrive --to-s3)",
    )
    p.add_argument(
        "--mode",
        required=True,
        choices=["skip", "overwrite"],
        help="skip what was applied, or run everything again (see above)",
    )
    _accept_mismatch(p)
    _aws(p)
    _processor(p)
    p.add_argument("--shard", help="only this shard (needed for --from-seq)")
    p.add_argument("--from-seq", help="first sequence number")
    p.add_argument("--to-seq", help="last sequence number")
    p.add_argument("--since", help="changes from this time (ISO 8601 or epoch seconds)")
    p.add_argument("--until", help="changes up to this time (ISO 8601 or epoch seconds)")
    p.add_argument("--batch-size", type=int, default=100, help="records per batch (default 100)")
    p.add_argument(
        "--archive",
        metavar="s3://BUCKET/PREFIX",
        help="overwrite of analytics: the ETL archive holding the table's older changes "
        "(default: the function's own ETL bucket and prefix, if it runs ETL)",
    )
    p.add_argument(
        "--window-seconds",
        type=int,
        help="overwrite of analytics: tumbling window size (default: --function's mapping, "
        "else none)",
    )
    p.add_argument("--dry-run", action="store_true", help="report what would run; run nothing")
    p.set_defaults(func=cmd_replay)

    p = command(
        "generate-event",
        GENERATE,
        help="print a realistic Lambda event with a DynamoDB stream record",
    )
    p.add_argument(
        "item",
        nargs="?",
        help="the item as JSON, or a first NAME=VALUE (none: the developer guide's example)",
    )
    p.add_argument("values", nargs="*", metavar="NAME=VALUE", help="more attributes")
    p.add_argument("--keys", help="key attribute names, comma-separated (default: the first)")
    p.add_argument(
        "--event-name",
        default="INSERT",
        choices=["INSERT", "MODIFY", "REMOVE"],
        help="the change (default INSERT)",
    )
    p.add_argument(
        "--view-type",
        default="NEW_AND_OLD_IMAGES",
        choices=["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"],
        help="the stream's view type: which images the record carries (default NEW_AND_OLD_IMAGES)",
    )
    p.add_argument("--old-item", help="the item before a MODIFY, as JSON (default: the item)")
    p.add_argument(
        "--table", help="table name in the ARN (default: my-table, or the example's table)"
    )
    p.add_argument("--region", help="region in the ARN (default: as for AWS calls, else us-east-1)")
    p.add_argument("--ttl", action="store_true", help="a REMOVE made by TTL (userIdentity)")
    p.set_defaults(func=cmd_generate_event)

    p = command("tail", TAIL, help="follow a table's stream and print each change")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("table", nargs="?", help="the table to follow")
    src.add_argument("--stream-arn", help="the stream to follow")
    _aws(p)
    p.add_argument("--from-start", action="store_true", help="from the oldest change kept")
    p.add_argument("--max-records", type=int, help="exit after this many changes")
    p.add_argument("--idle-exit", type=float, help="exit after this many seconds without changes")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between empty polls")
    p.set_defaults(func=cmd_tail)

    from ddbt.ops import verify

    verify.add_parser(top)  # ddbt verify-replica
