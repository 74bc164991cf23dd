"""The real handlers deployed on the local runtime (ddbt): a table with a stream, the
pipeline function from build/handlers.zip (analytics, ETL, notification), its sinks, an SQS
on-failure destination, and readers of every sink. Used by the runtime-level reliability
tests and by scripts/soak.py."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from ddbt.local.polling import PollerOptions
from ddbt.local.report import Report
from ddbt.local.runtime import Runtime, RuntimeConfig
from tests.e2e.scenario import drain

ROOT = Path(__file__).resolve().parents[2]
ZIP = ROOT / "build" / "handlers.zip"
REGION = "eu-west-1"
TABLE = "applications"
BUCKET = "etl-bucket"


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
        self.c = {
            s: boto3.client(s, **kw)
            for s in ("dynamodb", "dynamodbstreams", "s3", "sqs", "sns", "lambda", "iam")
        }
        self.runtimes: list[Runtime] = []

    def deploy(
        self,
        *,
        processors: str = "analytics,etl,notification",
        batch_size: int = 100,
        retries: int = 2,
        timeout: int = 30,
        log_level: str = "WARNING",
        code: Path = ZIP,
    ) -> None:
        ddb, sqs, sns = self.c["dynamodb"], self.c["sqs"], self.c["sns"]

        def table(name: str, stream: bool = False) -> None:
            extra: dict[str, Any] = {}
            if stream:
                extra["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                }
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
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

        def arn(url: str) -> str:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attrs["Attributes"]["QueueArn"])

        if "notification" in processors:
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn(self.notified),
                Attributes={"RawMessageDelivery": "true"},
            )
        role = self.c["iam"].create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")
        self.c["lambda"].create_function(
            FunctionName="pipeline",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="handlers.pipeline.handler",
            Code={"ZipFile": code.read_bytes()},
            Timeout=timeout,
            Environment={
                "Variables": {
                    "PROCESSORS": processors,
                    "CHECKPOINT_TABLE": "checkpoints",
                    "AGGREGATES_TABLE": "aggregates",
                    "ANALYTICS_GROUP_BY": "job_id",
                    "ETL_BUCKET": BUCKET,
                    "NOTIFY_TOPIC_ARN": topic,
                    "LOG_LEVEL": log_level,
                }
            },
        )
        self.c["lambda"].create_event_source_mapping(
            EventSourceArn=self.stream,
            FunctionName="pipeline",
            StartingPosition="TRIM_HORIZON",
            BatchSize=batch_size,
            MaximumRetryAttempts=retries,
            BisectBatchOnFunctionError=True,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            DestinationConfig={"OnFailure": {"Destination": arn(self.dlq)}},
        )

    def runtime(
        self, report_out: Any = None, endpoint_url: str | None = None, **options: Any
    ) -> Runtime:
        """Start a runtime on this stack; ``report_out``: a text stream for its invocation
        lines (None: silent); ``endpoint_url``: where the runtime and its functions reach
        the endpoint (default: directly; a fault-injecting proxy in front of it in tests)."""
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
            Report(out=report_out),
        )
        rt.start()
        self.runtimes.append(rt)
        return rt

    def close(self) -> None:
        for rt in self.runtimes:
            rt.close()
        self.runtimes.clear()

    # -- readers -----------------------------------------------------------------------
    def etl_lines(self) -> list[dict[str, Any]]:
        s3 = self.c["s3"]
        lines = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                lines += [json.loads(x) for x in gzip.decompress(body).decode().splitlines()]
        return lines

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record of the table's stream (its one shard), in order, as GetRecords
        returns them."""
        st = self.c["dynamodbstreams"]
        (shard,) = st.describe_stream(StreamArn=self.stream)["StreamDescription"]["Shards"]
        it = st.get_shard_iterator(
            StreamArn=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out: list[dict[str, Any]] = []
        while it:
            page = st.get_records(ShardIterator=it, Limit=1000)
            out += page["Records"]
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
        return out

    def drain(self, url: str) -> list[dict[str, Any]]:
        return drain(self.c["sqs"], url)

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


class Writer:
    """Item changes of job applications and the outcome expected from them, computed from
    the writer's own bookkeeping: per key, the ordered list of changes (event name and a
    per-key version), and the aggregates."""

    def __init__(self, ddb: Any, prefix: str, jobs: int = 3) -> None:
        self.ddb = ddb
        self.prefix = prefix
        self.jobs = jobs
        self.live: dict[str, str] = {}  # key -> job
        self.versions: Counter[str] = Counter()
        self.changes: dict[str, list[tuple[str, int]]] = {}
        self.expected: dict[str, Counter[str]] = {}
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
        self.versions[key] += 1
        version = self.versions[key]
        item = {
            "pk": {"S": key},
            "job_id": {"S": job},
            "v": {"N": str(version)},
            "written_at": {"N": f"{time.time():.3f}"},
            **extra,
        }
        name = "MODIFY" if key in self.live else "INSERT"
        self._call("put_item", TableName=TABLE, Item=item)
        self.live[key] = job
        self.changes.setdefault(key, []).append((name, version))
        self._expect(job, name)
        self.count += 1

    def delete(self, key: str) -> None:
        job = self.live.pop(key)
        self._call("delete_item", TableName=TABLE, Key={"pk": {"S": key}})
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
