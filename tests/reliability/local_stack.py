"""The real handlers deployed on the local runtime (ddbt): a table with a stream, the
pipeline function from build/handlers.zip (any of the processors), its sinks, an SQS
on-failure destination (with the DLQ archiver on it, optionally), and readers of every sink.
``COMPLETE`` deploys what examples/complete applies; ``WITH_CACHE`` adds the cache processor
on a real Valkey/Redis server the stack starts (``ddbt.local.cacheserver``) and stops. Used
by the runtime-level reliability tests and by scripts/soak.py."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from ddbt.local.cacheserver import CacheServer
from ddbt.local.engine import Attempt
from ddbt.local.functions import Worker
from ddbt.local.polling import PollerOptions
from ddbt.local.report import Report
from ddbt.local.runtime import Runtime, RuntimeConfig
from handlers import registry
from handlers.archive import Archive, read_archive
from tests.e2e.scenario import drain

ROOT = Path(__file__).resolve().parents[2]
ZIP = ROOT / "build" / "handlers.zip"
REGION = "eu-west-1"
REPLICA_REGION = "us-west-2"
TABLE = "applications"
BUCKET = "etl-bucket"
ARCHIVE_BUCKET = "dlq-archive-bucket"
ARCHIVE_PREFIX = "dlq-archive/"
VIEW_TABLE = "applications-by-job"
REPLICA_TABLE = "applications-replica"
EVENT_BUS = "soak-events"
# The services the pipeline function calls, by the name of their endpoint variable
# (AWS_ENDPOINT_URL_<NAME>, which botocore prefers over AWS_ENDPOINT_URL).
SINK_SERVICES = ("S3", "SNS", "EVENTBRIDGE", "DYNAMODB")


@dataclass(frozen=True)
class Layout:
    """What ``Stack.deploy`` creates: the pipeline function's processors and settings, its
    mapping, and whether the DLQ archiver runs on its dead-letter queue."""

    processors: str = "analytics,etl,notification"
    batch_size: int = 100
    retries: int = 2
    timeout: int = 30
    log_level: str = "WARNING"
    parallelization: int = 1
    group_by: str = "job_id"
    notify_events: str = ""  # empty: the handler's default (every event)
    notify_attributes: str = ""
    etl_prefix: str = ""
    archiver: bool = False
    # The status-changes rule of the event bus: examples/complete routes every MODIFY; the
    # soak narrows it to MODIFYs that changed status (see docs/reliability.md, Soak).
    rule_pattern: dict[str, Any] = field(default_factory=dict)


# examples/complete (main.tf): every processor in one function, analytics by job and status,
# notifications of status changes, the DLQ archiver; the module's defaults elsewhere.
COMPLETE = Layout(
    # every processor but the cache, which examples/complete runs only given a cache endpoint
    processors=",".join(name for name in registry.NAMES if name != "cache"),
    retries=5,
    timeout=60,
    group_by="job_id,status",
    notify_events="MODIFY",
    notify_attributes="status",
    etl_prefix="changes/",
    archiver=True,
    rule_pattern={
        "source": [f"dynamodb-triggers.{TABLE}"],
        "detail-type": ["DynamoDB MODIFY"],
        "detail": {"changedAttributes": {"status": {"new": [{"exists": True}]}}},
    },
)
# examples/complete given a cache endpoint (its ``cache_endpoint`` input): every processor, the
# cache's settings the module's defaults (no TTL, every attribute, the ``ddbt:`` prefix)
WITH_CACHE = dataclasses.replace(COMPLETE, processors=",".join(registry.NAMES))


@dataclass(frozen=True)
class Invocation:
    """One invocation as the runtime saw it: which worker process ran it (``pid``), when,
    what came of it (``ok``, ``error``, ``timeout``), the shard and lane's records
    (sequence numbers) and the runtime's verdict (``ok``, ``partial``, ``error``, ...)."""

    request_id: str
    pid: int
    start: float
    end: float
    outcome: str
    function: str = ""
    shard: str = ""
    seqs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    verdict: str = ""
    failed_from: int | None = None


class Observed(Report):
    """The runtime's report, keeping every invocation: ``trace()`` also records which worker
    process ran each one (``ddbt.functions.Worker.invoke`` wrapped while it is active)."""

    def __init__(self, out: Any = None) -> None:
        super().__init__(out=out)
        self._seen: dict[str, Invocation] = {}  # request id -> worker side
        self.invocations: list[Invocation] = []
        self._mutex = threading.Lock()

    def attempt(self, mapping: str, function: str, shard: str, attempt: Attempt) -> None:
        super().attempt(mapping, function, shard, attempt)
        r = attempt.result
        with self._mutex:
            worker = self._seen.pop(r.request_id, None)
            end = worker.end if worker else time.time()
            self.invocations.append(
                Invocation(
                    r.request_id,
                    worker.pid if worker else 0,
                    worker.start if worker else end - r.duration,
                    end,
                    r.outcome,
                    function,
                    shard,
                    tuple(rec.seq for rec in attempt.records),
                    tuple(rec.key for rec in attempt.records),
                    attempt.verdict,
                    attempt.failed_from,
                )
            )

    @contextmanager
    def trace(self) -> Iterator[None]:
        original = Worker.invoke

        def invoke(worker: Worker, event: dict[str, Any], timeout: float) -> Any:
            start = time.time()
            result = original(worker, event, timeout)
            seen = Invocation(
                result.request_id, worker.proc.pid, start, time.time(), result.outcome
            )
            with self._mutex:
                self._seen[result.request_id] = seen
            return result

        setattr(Worker, "invoke", invoke)  # noqa: B010 - a method patched for the run
        try:
            yield
        finally:
            setattr(Worker, "invoke", original)  # noqa: B010


class Stack:
    def __init__(self, url: str, state: Path) -> None:
        self.url = url
        self.state = state
        kw = {
            "endpoint_url": url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.kw = kw
        self.c = {
            s: boto3.client(s, **kw)
            for s in ("dynamodb", "s3", "sqs", "sns", "lambda", "iam", "events", "dynamodbstreams")
        }
        self.runtimes: list[Runtime] = []
        self.readers: dict[str, QueueReader] = {}
        self.layout = Layout()
        self.mapping = ""
        self.replica_arn = ""
        self.cache_server: CacheServer | None = None

    def deploy(
        self,
        layout: Layout | None = None,
        *,
        code: Path = ZIP,
        sink_endpoint: str = "",
        **settings: Any,
    ) -> None:
        """Create ``layout`` (``Layout`` fields may be given as keywords instead);
        ``sink_endpoint``: where the pipeline function's sink calls go (a fault proxy)."""
        layout = layout or Layout(**settings)
        names = layout.processors.split(",")
        ddb, sqs, sns = self.c["dynamodb"], self.c["sqs"], self.c["sns"]
        self.layout = layout

        def table(name: str, stream: bool = False, client: Any = ddb, sort: str = "") -> None:
            extra: dict[str, Any] = {}
            if stream:
                extra["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                }
            keys = [("job_id", "HASH"), ("pk", "RANGE")] if sort else [("pk", "HASH")]
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
                BillingMode="PAY_PER_REQUEST",
                **extra,
            )

        table(TABLE, stream=True)
        table("aggregates")
        table("checkpoints")
        self.stream = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        self.c["s3"].create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        topic = sns.create_topic(Name="changes")["TopicArn"]
        self.notified = sqs.create_queue(QueueName="notified")["QueueUrl"]
        self.dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        self.status_changes = ""

        def arn(url: str) -> str:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attrs["Attributes"]["QueueArn"])

        env = {
            "PROCESSORS": layout.processors,
            "CHECKPOINT_TABLE": "checkpoints",
            "AGGREGATES_TABLE": "aggregates",
            "ANALYTICS_GROUP_BY": layout.group_by,
            "ETL_BUCKET": BUCKET,
            "NOTIFY_TOPIC_ARN": topic,
            "LOG_LEVEL": layout.log_level,
        }
        if layout.etl_prefix:
            env["ETL_PREFIX"] = layout.etl_prefix
        if layout.notify_events:
            env["NOTIFY_EVENTS"] = layout.notify_events
        if layout.notify_attributes:
            env["NOTIFY_ATTRIBUTES"] = layout.notify_attributes
        if "notification" in names:
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn(self.notified),
                Attributes={"RawMessageDelivery": "true"},
            )
        if "eventbus" in names:
            events = self.c["events"]
            events.create_event_bus(Name=EVENT_BUS)
            self.status_changes = sqs.create_queue(QueueName="status-changes")["QueueUrl"]
            events.put_rule(
                Name="status-changes",
                EventBusName=EVENT_BUS,
                EventPattern=json.dumps(
                    layout.rule_pattern or {"source": [f"dynamodb-triggers.{TABLE}"]}
                ),
            )
            events.put_targets(
                Rule="status-changes",
                EventBusName=EVENT_BUS,
                Targets=[{"Id": "queue", "Arn": arn(self.status_changes)}],
            )
            env |= {"EVENTBUS_NAME": EVENT_BUS, "EVENTBUS_EVENTS": "INSERT,MODIFY,REMOVE"}
        if "view" in names:
            table(VIEW_TABLE, sort="pk")
            env |= {
                "VIEW_TABLE": VIEW_TABLE,
                "VIEW_PARTITION_KEY": "job_id",
                "VIEW_SORT_KEY": "pk",
                "VIEW_ATTRIBUTES": "status",
                "VIEW_WRITE_CONCURRENCY": "8",
            }
        if "replicate" in names:
            replica = self.client("dynamodb", REPLICA_REGION)
            table(REPLICA_TABLE, client=replica)
            self.replica_arn = replica.describe_table(TableName=REPLICA_TABLE)["Table"]["TableArn"]
            env |= {"REPLICA_TABLE": self.replica_arn, "REPLICATE_WRITE_CONCURRENCY": "8"}
        if "cache" in names:
            # RESP, not HTTP: the fault proxy does not see these calls (crashes still hit the
            # function while it writes to the cache)
            self.cache_server = CacheServer(directory=self.state / "cache").start()
            env |= {"CACHE_ENDPOINT": self.cache_server.endpoint, "CACHE_TLS": "false"}
        for service in SINK_SERVICES if sink_endpoint else ():
            env[f"AWS_ENDPOINT_URL_{service}"] = sink_endpoint
        role = self.c["iam"].create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")

        def function(name: str, timeout: int, variables: dict[str, str]) -> None:
            """The function ``name`` from the package, its handler ``handlers.<name>``."""
            self.c["lambda"].create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role["Role"]["Arn"],
                Handler=f"handlers.{name}.handler",
                Code={"ZipFile": code.read_bytes()},
                Timeout=timeout,
                Environment={"Variables": variables},
            )

        function("pipeline", layout.timeout, env)
        self.mapping = self.c["lambda"].create_event_source_mapping(
            EventSourceArn=self.stream,
            FunctionName="pipeline",
            StartingPosition="TRIM_HORIZON",
            BatchSize=layout.batch_size,
            MaximumRetryAttempts=layout.retries,
            BisectBatchOnFunctionError=True,
            ParallelizationFactor=layout.parallelization,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            DestinationConfig={"OnFailure": {"Destination": arn(self.dlq)}},
        )["UUID"]
        if layout.archiver:
            self.c["s3"].create_bucket(
                Bucket=ARCHIVE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            function(
                "archiver",
                60,
                {
                    "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
                    "ARCHIVE_PREFIX": ARCHIVE_PREFIX,
                    "SOURCE_MAPPINGS": json.dumps({"pipeline": self.mapping}),
                    "LOG_LEVEL": layout.log_level,
                },
            )
            self.c["lambda"].create_event_source_mapping(
                EventSourceArn=arn(self.dlq),
                FunctionName="archiver",
                BatchSize=10,
                MaximumBatchingWindowInSeconds=0,
                FunctionResponseTypes=["ReportBatchItemFailures"],
            )

    def client(self, service: str, region: str = REGION) -> Any:
        """A client of the endpoint in ``region``."""
        return boto3.client(service, **{**self.kw, "region_name": region})

    def runtime(
        self,
        report_out: Any = None,
        endpoint_url: str | None = None,
        report: Report | None = None,
        **options: Any,
    ) -> Runtime:
        """Start a runtime on this stack; ``report_out``: a text stream for its invocation
        lines (None: silent), or ``report`` itself; ``endpoint_url``: where the runtime and
        its functions reach the endpoint (default: directly; a fault-injecting proxy in
        front of it in tests)."""
        opts = PollerOptions(
            poll_interval=0.05, shard_refresh=0.5, retry_delay=0.05, max_retry_delay=0.5
        )
        for k, v in options.items():
            setattr(opts, k, v)
        rt = Runtime(
            RuntimeConfig(
                endpoint_url=endpoint_url or self.url,
                regions=[REGION],
                state_dir=self.state / "runtime",
                options=opts,
                discover_interval=0.2,
            ),
            report or Report(out=report_out),
        )
        rt.start()
        self.runtimes.append(rt)
        return rt

    def close(self) -> None:
        for rt in self.runtimes:
            rt.close()
        self.runtimes.clear()
        if self.cache_server is not None:
            self.cache_server.stop()
            self.cache_server = None

    def cache(self) -> Any:
        """A redis-py client of the stack's cache server."""
        import redis

        assert self.cache_server is not None, "the stack runs no cache processor"
        return redis.Redis(host="127.0.0.1", port=self.cache_server.port, decode_responses=True)

    # -- readers -----------------------------------------------------------------------
    def etl_lines(self) -> list[dict[str, Any]]:
        return [line for _, lines in self.etl_objects() for line in lines]

    def etl_objects(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Every ETL object (key, lines), in key order."""
        s3 = self.c["s3"]
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                lines = [json.loads(x) for x in gzip.decompress(body).decode().splitlines()]
                out.append((obj["Key"], lines))
        return out

    def drain(self, url: str) -> list[dict[str, Any]]:
        return drain(self.c["sqs"], url)

    def subscribe(self) -> None:
        """Read the subscribers' queues (notification's ``notified``, the event bus rule's
        ``status-changes``) while the run goes on (``QueueReader``)."""
        queues = {"notified": self.notified, "status-changes": self.status_changes}
        for name, url in queues.items():
            if url and name not in self.readers:
                self.readers[name] = QueueReader(self.client("sqs"), url)

    def received(self, queue: str) -> list[Any]:
        """Every message body (JSON) the subscriber of ``queue`` received (``subscribe``)."""
        reader = self.readers.get(queue)
        return reader.close() if reader is not None else []

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record the table's stream holds, in order (shard by shard)."""
        streams = self.c["dynamodbstreams"]
        out: list[dict[str, Any]] = []
        shards = streams.describe_stream(StreamArn=self.stream)["StreamDescription"]["Shards"]
        for shard in shards:
            it = streams.get_shard_iterator(
                StreamArn=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while it:
                page = streams.get_records(ShardIterator=it, Limit=1000)
                out += page["Records"]
                if not page["Records"]:
                    break
                it = page.get("NextShardIterator")
        return out

    def items(self, table: str, region: str = REGION) -> list[dict[str, Any]]:
        """Every item of ``table`` (typed)."""
        client = self.c["dynamodb"] if region == REGION else self.client("dynamodb", region)
        return [
            item
            for page in client.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        ]

    def archives(self) -> list[Archive]:
        """The DLQ archiver's objects (``handlers.archiver`` format)."""
        s3 = self.c["s3"]
        return [
            read_archive(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=obj["Key"])["Body"].read())
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=ARCHIVE_BUCKET, Prefix=ARCHIVE_PREFIX
            )
            for obj in page.get("Contents", [])
            if obj["Key"].endswith(".jsonl.gz")
        ]

    def aggregates(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for page in self.c["dynamodb"].get_paginator("scan").paginate(TableName="aggregates"):
            for item in page["Items"]:
                pk = item["pk"]["S"]
                if not pk.startswith("#"):
                    out[pk] = {
                        k: int(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"
                    }
        return out


@dataclass(frozen=True)
class Change:
    """One change a writer made: the key, the event name and the item before and after
    (typed; None where there is none)."""

    key: str
    name: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class QueueReader:
    """A subscriber of an SQS queue, reading it while the run goes on (every ``interval``
    seconds, each message then deleted) so that the queue stays short: the local endpoint
    answers ReceiveMessage and DeleteMessage more slowly the more messages a queue holds
    (two thousand make a read of them all take minutes). ``close()`` reads what is left and
    returns every body (JSON) in the order read."""

    def __init__(self, sqs: Any, url: str, interval: float = 1.0) -> None:
        self.sqs = sqs
        self.url = url
        self.bodies: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.read()

    def read(self) -> int:
        """Read (and delete) every message now visible; how many were read."""
        count = 0
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
                "Messages"
            )
            if not msgs:
                return count
            self.bodies += [json.loads(m["Body"]) for m in msgs]
            count += len(msgs)
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)
                ],
            )

    def close(self) -> list[Any]:
        self._stop.set()
        self._thread.join()
        while self.read():
            pass
        return self.bodies


class Writer:
    """Item changes of job applications and the outcome expected from them, computed from
    the writer's own bookkeeping: per key, the ordered list of changes (event name and a
    per-key version), the aggregates by job, and every change with its images (``log``)."""

    def __init__(self, ddb: Any, prefix: str, jobs: int = 3) -> None:
        self.ddb = ddb
        self.prefix = prefix
        self.jobs = jobs
        self.live: dict[str, str] = {}  # key -> job
        self.items: dict[str, dict[str, Any]] = {}  # key -> the item as written
        self.versions: Counter[str] = Counter()
        self.changes: dict[str, list[tuple[str, int]]] = {}
        self.expected: dict[str, Counter[str]] = {}
        self.log: list[Change] = []
        self.count = 0
        self.lock: Any = None  # serializes calls to the endpoint across writers when set

    def _call(self, method: str, **kwargs: Any) -> None:
        if self.lock is None:
            getattr(self.ddb, method)(**kwargs)
        else:
            with self.lock:
                getattr(self.ddb, method)(**kwargs)

    def _expect(self, job: str, name: str) -> None:
        self.expected.setdefault(f'{TABLE}|job_id="{job}"', Counter())[name] += 1

    def put(self, key: str, job: str, **extra: Any) -> None:
        item = self._next(key, job, extra)
        self._call("put_item", TableName=TABLE, Item=item)
        self._applied(key, job, item)

    def put_many(self, puts: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Several puts (key, job, extra attributes) in one ``TransactWriteItems``, so that
        their changes reach the stream together, in this order."""
        items = [(key, job, self._next(key, job, extra)) for key, job, extra in puts]
        self._call(
            "transact_write_items",
            TransactItems=[{"Put": {"TableName": TABLE, "Item": item}} for _, _, item in items],
        )
        for key, job, item in items:
            self._applied(key, job, item)

    def _next(self, key: str, job: str, extra: dict[str, Any]) -> dict[str, Any]:
        self.versions[key] += 1
        return {
            "pk": {"S": key},
            "job_id": {"S": job},
            "v": {"N": str(self.versions[key])},
            "written_at": {"N": f"{time.time():.3f}"},
            **extra,
        }

    def _applied(self, key: str, job: str, item: dict[str, Any]) -> None:
        version = int(item["v"]["N"])
        name = "MODIFY" if key in self.live else "INSERT"
        self.live[key] = job
        self.log.append(Change(key, name, self.items.get(key), item))
        self.items[key] = item
        self.changes.setdefault(key, []).append((name, version))
        self._expect(job, name)
        self.count += 1

    def churn(
        self, count: int, keys: int, seed: int, deletes: float = 0.15, pause: float = 0.0
    ) -> None:
        """``count`` random changes (seeded) over ``keys`` items ``<prefix>-<n>``: a live item
        is deleted with chance ``deletes``, else put (a new item in a random job, an update
        in its own); ``pause`` seconds after each change."""
        rng = random.Random(seed)
        for _ in range(count):
            key = f"{self.prefix}-{rng.randrange(keys)}"
            if key in self.live and rng.random() < deletes:
                self.delete(key)
            else:
                self.put(key, self.live.get(key) or f"J{rng.randrange(self.jobs)}")
            if pause:
                time.sleep(pause)

    def delete(self, key: str) -> None:
        job = self.live.pop(key)
        self._call("delete_item", TableName=TABLE, Key={"pk": {"S": key}})
        self.log.append(Change(key, "REMOVE", self.items.pop(key), None))
        self.versions[key] += 1
        self.changes.setdefault(key, []).append(("REMOVE", self.versions[key]))
        self._expect(job, "REMOVE")
        self.count += 1


def check_etl(
    lines: list[dict[str, Any]],
    writers: list[Writer],
    poison: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Figures of the ETL output against the writers' changes: duplicates (same sequence
    number twice), lost changes, and per-key order (versions increasing in sequence order)."""
    # A duplicate is the same change (eventID and sequence number) twice. Distinct changes
    # sharing a sequence number are counted apart (see seq_collisions: a local-endpoint bug).
    by_change = Counter((x["eventID"], x["sequenceNumber"]) for x in lines)
    duplicates = sum(c - 1 for c in by_change.values() if c > 1)
    by_seq = Counter(seq for _, seq in by_change)
    collisions = sum(c - 1 for c in by_seq.values() if c > 1)
    seen: dict[str, list[tuple[int, str, int]]] = {}
    for x in lines:
        key = x["keys"]["pk"]
        image = x.get("newImage") or x.get("oldImage") or {}
        version = int(image.get("v", 0)) if x["eventName"] != "REMOVE" else -1
        seen.setdefault(key, []).append((int(x["sequenceNumber"]), x["eventName"], version))
    # (a change's line appears once per key in ``got`` below even when written twice)
    lost = 0
    out_of_order = 0
    expected_total = 0
    for w in writers:
        for key, changes in w.changes.items():
            expected_total += len(changes)
            got = sorted(set(seen.get(key, [])))
            names = [n for _, n, _ in got]
            lost += max(0, len(changes) - len(got)) if key not in poison else 0
            if names != [n for n, _ in changes][: len(names)] and key not in poison:
                out_of_order += 1
            versions = [v for _, n, v in got if n != "REMOVE"]
            if versions != sorted(versions):
                out_of_order += 1
    return {
        "expected": expected_total,
        "lines": len(lines),
        "delivered": len(by_change),
        "duplicates": duplicates,
        "seq_collisions": collisions,
        "lost": lost,
        "out_of_order_keys": out_of_order,
    }
