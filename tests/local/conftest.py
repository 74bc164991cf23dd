"""The patched local endpoint (``python -m ddbt.local.server``; the session's
``local_endpoint`` of tests/conftest.py) reset between tests, plus helpers to deploy a fake
function and run the pollers in-process."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ddbt.local.polling import PollerOptions
from ddbt.local.report import Report
from ddbt.local.runtime import Runtime, RuntimeConfig
from tests.conftest import endpoint_client, reset_endpoint
from tests.e2e.scenario import drain
from tests.factories import zip_bytes

REGION = "eu-west-1"  # not us-east-1: events must carry the stream's region

FAKE = """
import json, os, time

def handler(event, context):
    recs = event["Records"]
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in recs]
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"seqs": [r["dynamodb"]["SequenceNumber"] for r in recs],
                              "keys": keys, "event": event,
                              "env": {k: os.environ.get(k) for k in
                                      ("AWS_ENDPOINT_URL", "GREETING", "AWS_REGION",
                                       "AWS_LAMBDA_FUNCTION_NAME")},
                              "remaining": context.get_remaining_time_in_millis()}) + "\\n")
    for k in keys:
        if k.startswith("raise"):
            raise RuntimeError("cannot process " + k)
        if k.startswith("sleep"):
            time.sleep(30)
    failed = [r["dynamodb"]["SequenceNumber"] for r in recs
              if r["dynamodb"]["Keys"]["pk"]["S"].startswith("partial")]
    response = {"batchItemFailures": [{"itemIdentifier": s} for s in failed[:1]]}
    if "window" in event:
        response["state"] = {"n": event["state"].get("n", 0) + len(recs)}
    return response
"""


def fake_zip() -> bytes:
    return zip_bytes({"fake.py": FAKE})


ROOT = Path(__file__).resolve().parents[2]
_PACKAGE_LOCK = threading.Lock()


def handlers_zip() -> bytes:
    """build/handlers.zip of this source tree (`make package` is incremental: cheap when the
    zip is current)."""
    with _PACKAGE_LOCK:
        subprocess.run(["make", "-s", "package"], cwd=ROOT, check=True, capture_output=True)
    return (ROOT / "build" / "handlers.zip").read_bytes()


class DlqStack(NamedTuple):
    """What ``Cloud.failing_to_dlq`` made: the stream, the DLQ, the mapping, the function."""

    stream: str
    url: str
    arn: str
    uuid: str
    function: str


class Cloud:
    """Clients of the local endpoint and a fake-function stack: table, DLQ, function."""

    def __init__(self, endpoint: str, tmp: Path) -> None:
        self.endpoint = endpoint
        self.tmp = tmp
        self.ddb = self.client("dynamodb")
        self.lam = self.client("lambda")
        self.sqs = self.client("sqs")
        self.iam = self.client("iam")
        self.out = tmp / "invocations.jsonl"
        self.runtimes: list[Runtime] = []

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client of ``service`` on the local endpoint (``region``: another one)."""
        return endpoint_client(self.endpoint, service, region)

    def use(self, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
        """Point the handlers run in this process (and their clients) at the local endpoint,
        with ``env`` besides."""
        from handlers import aws

        for name, value in {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        aws.reset_clients()

    def table(self, name: str = "t", view: str = "NEW_AND_OLD_IMAGES") -> str:
        self.ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
        )
        return str(self.ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"])

    def queue(self, name: str = "dlq", visibility: int | None = None) -> tuple[str, str]:
        """Queue ``name`` (its ``VisibilityTimeout`` in seconds, SQS's default unless given):
        its URL and ARN."""
        attributes = {} if visibility is None else {"VisibilityTimeout": str(visibility)}
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def deploy(
        self, name: str, handler: str, code: bytes, env: dict[str, str], timeout: int = 10
    ) -> str:
        """Function ``name`` (python3.12, with a role of its own) running ``handler`` of the
        zip ``code`` with the environment ``env``; returns its ARN."""
        role = self.iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")
        fn = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler=handler,
            Code={"ZipFile": code},
            Timeout=timeout,
            Environment={"Variables": env},
        )
        return str(fn["FunctionArn"])

    def function(self, name: str = "fake", timeout: int = 10) -> str:
        env = {"OUT": str(self.out), "GREETING": "hello"}
        return self.deploy(name, "fake.handler", fake_zip(), env, timeout)

    def analytics_function(self, name: str = "agg") -> str:
        """The analytics handler of this source tree (build/handlers.zip) as function
        ``name``, counting into a new ``aggregates`` table."""
        self.ddb.create_table(
            TableName="aggregates",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        env = {"AGGREGATES_TABLE": "aggregates"}
        return self.deploy(name, "handlers.analytics.handler", handlers_zip(), env, timeout=30)

    def mapping(self, stream: str, function: str = "fake", **kw: Any) -> str:
        if ":sqs:" not in stream:  # queues have no starting position
            kw.setdefault("StartingPosition", "TRIM_HORIZON")
        return str(
            self.lam.create_event_source_mapping(
                EventSourceArn=stream, FunctionName=function, **kw
            )["UUID"]
        )

    def failing_to_dlq(
        self, timeout: int = 10, visibility: int | None = None, **mapping: Any
    ) -> DlqStack:
        """Table ``t``'s stream mapped to the fake function (``timeout`` seconds; ``mapping``:
        the mapping's settings), failed batches sent to the SQS queue ``dlq`` (the mapping's
        on-failure destination; ``visibility``: its visibility timeout)."""
        stream = self.table()
        url, arn = self.queue(visibility=visibility)
        function = self.function(timeout=timeout)
        destination = {"OnFailure": {"Destination": arn}}
        uuid = self.mapping(stream, DestinationConfig=destination, **mapping)
        return DlqStack(stream, url, arn, uuid, function)

    def put(self, pk: str, table: str = "t", **attrs: str) -> None:
        item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
        self.ddb.put_item(TableName=table, Item=item)

    def runtime(
        self,
        state: Path | None = None,
        report: Report | None = None,
        status_file: Path | None = None,
        **options: Any,
    ) -> Runtime:
        """In-process pollers on the endpoint (``report``: where their lines go, silent by
        default; ``status_file``: the status ``ddbt local status`` reads)."""
        opts = PollerOptions(poll_interval=0.05, shard_refresh=0.5, retry_delay=0, window_grace=0.2)
        for k, v in options.items():
            setattr(opts, k, v)
        rt = Runtime(
            RuntimeConfig(
                endpoint_url=self.endpoint,
                regions=[REGION],
                state_dir=state or self.tmp / "state",
                options=opts,
                discover_interval=0.2,
                status_file=status_file,
            ),
            report or Report(out=None),
        )
        rt.start()
        self.runtimes.append(rt)
        return rt

    def invocations(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def queued(self, url: str) -> int:
        """How many messages queue ``url`` holds (ApproximateNumberOfMessages)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def dlq(self, url: str) -> list[dict[str, Any]]:
        return drain(self.sqs, url)

    def close(self) -> None:
        for rt in self.runtimes:
            rt.close()
        self.runtimes.clear()


@pytest.fixture
def cloud(local_endpoint: str, tmp_path: Path) -> Iterator[Cloud]:
    reset_endpoint(local_endpoint)
    with closing(Cloud(local_endpoint, tmp_path)) as c:
        yield c


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


__all__ = ["Cloud", "DlqStack", "threading", "wait_for"]


# A filter that drops records whose status is SKIP (see Cloud.failed_filtered_batch).
NEW_ONLY = {"dynamodb": {"NewImage": {"status": {"S": ["NEW"]}}}}


def failed_filtered_batch(cloud: Cloud) -> tuple[str, str, str, list[dict[str, Any]]]:
    """A mapping filtered with ``NEW_ONLY`` (no bisect, no retries, an SQS DLQ) and writes
    raise-1 (NEW), skip-1 (SKIP), b (NEW) read in one page: the batch [raise-1, b] fails
    whole, so its one DLQ message's range spans skip-1, which Lambda never delivered.
    Returns (mapping UUID, stream ARN, DLQ URL, the DLQ's messages as received)."""
    stream, url, _, uuid, _ = cloud.failing_to_dlq(
        BatchSize=10,
        MaximumRetryAttempts=0,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(NEW_ONLY)}]},
    )
    for pk, status in [("raise-1", "NEW"), ("skip-1", "SKIP"), ("b", "NEW")]:
        cloud.put(pk, status=status)
    cloud.runtime()  # started after the writes: one GetRecords page, one batch

    def received() -> list[dict[str, Any]]:
        got = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return list(got.get("Messages") or [])

    wait_for(lambda: bool(received()), 30)
    cloud.close()
    return uuid, stream, url, received()
