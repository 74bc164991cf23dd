"""``make e2e-aws``: the end-to-end run on a real AWS account, only when the user opts in.

    make e2e-aws E2E_AWS_PREFIX=<name prefix> [E2E_AWS_ARGS="--region eu-west-1 --keep"]
    python -m tests.e2e.aws --prefix <name prefix> [--region R] [--replica-region R2] [--keep]

It applies a small stack (examples/complete plus a recorder: a second reader of the stream
that keeps every event it is given, tests/e2e/aws_stack/main.tf) named ``ex-<prefix>-...``,
drives item changes, checks every processor's effect (tests/e2e/scenario.py), destroys the
stack, and prints the event shapes it saw (Lambda events, a tumbling-window event, an
on-failure message, a GetRecords response body) in the conformance corpus format
(tests/conformance/README.md), with the account id masked, also written to
``build/e2e-aws/<prefix>/corpus/``.

Nothing here calls AWS unless a prefix is given and credentials are found: without them it
refuses with one line (exit 2). ``make test`` runs the same code against the local endpoint:
tests/e2e/test_complete.py has the stack this code prepares (``Run.prepare``) applied once per
test session by pytest-terraform, hands the result to the run (``Run.adopt``), and runs
``exercise`` and ``Run.drift`` on it; the e2e tests share it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from tests.e2e.scenario import Changes, check, drain, drive, eventually, put
from tests.factories import zip_bytes

__all__ = [
    "Options",
    "RecordedShapes",
    "Run",
    "applied",
    "execute",
    "exercise",
    "main",
    "refusal",
    "write_corpus",
]

ROOT = Path(__file__).resolve().parents[2]
STACK = Path(__file__).resolve().parent / "aws_stack" / "main.tf"
PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,19}$")
MASKED_ACCOUNT = "123456789012"

RECORDER = '''
import json, os
import boto3

_sqs = None


def handler(event, context):
    """Keep the event as it came; fail the batch holding an item whose key ends in -raise."""
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    _sqs.send_message(QueueUrl=os.environ["EVENTS_QUEUE_URL"], MessageBody=json.dumps(event))
    records = event.get("Records") or []
    keys = [str(r["dynamodb"]["Keys"]["application_id"]["S"]) for r in records]
    if any(k.endswith("-raise") for k in keys):
        raise RuntimeError("e2e recorder: failing on purpose")
    n = (event.get("state") or {}).get("n", 0) + len(records)
    return {"state": {"n": n}, "batchItemFailures": []}
'''


@dataclass
class Options:
    prefix: str
    region: str = "us-east-1"
    replica_region: str = "us-west-2"
    endpoint_url: str | None = None  # the local endpoint; None: real AWS
    env: dict[str, str] = field(default_factory=dict)  # for terraform (local endpoint)
    keep: bool = False  # leave the stack (debugging)
    timeout: float = 900.0  # for each effect to show
    out: Path | None = None
    root: Path | None = None  # the folder that holds the stack's folder; None: build/e2e-aws


def refusal(prefix: str | None, endpoint_url: str | None) -> str:
    """Why the run must not start ('' when it may): a real account needs an explicit prefix
    and credentials."""
    if not prefix:
        return (
            "e2e-aws: refusing to run: it creates and destroys resources in a real AWS account; "
            "opt in with E2E_AWS_PREFIX=<name prefix> (make e2e-aws E2E_AWS_PREFIX=me-e2e) and "
            "AWS credentials"
        )
    if not PREFIX_RE.match(prefix):
        return (
            f"e2e-aws: refusing to run: the name prefix {prefix!r} must be 2 to 20 lowercase "
            "letters, digits or hyphens, starting with a letter"
        )
    if endpoint_url is None:
        try:
            found = boto3.Session().get_credentials() is not None
        except Exception as exc:  # a broken credential source: no credentials either
            return f"e2e-aws: refusing to run: AWS credentials cannot be read ({exc})"
        if not found:
            return (
                "e2e-aws: refusing to run: no AWS credentials found (profile, SSO or environment)"
            )
    return ""


class Run:
    """One run: the stack's directory, clients, and what was seen."""

    def __init__(self, options: Options) -> None:
        if refusal(options.prefix, options.endpoint_url):
            raise ValueError(refusal(options.prefix, options.endpoint_url))
        self.options = options
        self.dir = (options.root or ROOT / "build" / "e2e-aws") / options.prefix
        self.outputs: dict[str, Any] = {}
        self.state: Path | None = None  # set by ``adopt``: another tool's state file
        self.wire: list[dict[str, Any]] = []  # GetRecords bodies as AWS sent them

    # -- clients -----------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        kw: dict[str, Any] = {"region_name": region or self.options.region}
        if self.options.endpoint_url:
            kw.update(
                endpoint_url=self.options.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return boto3.client(service, **kw)

    # -- the stack ---------------------------------------------------------------------
    def _run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        # Run in the stack's folder, not with -chdir: the names come from path.cwd, which
        # -chdir leaves at the caller's folder (every name would be ex-<checkout folder>).
        if self.state is not None and command in ("plan", "apply", "destroy"):
            args = (*args, f"-state={self.state}")
        return subprocess.run(
            [str(ROOT / "scripts" / "terraform.sh"), command, *args],
            cwd=self.dir,
            env={**os.environ, **self.options.env},
            capture_output=True,
            text=True,
        )

    def _terraform(self, *args: str) -> str:
        result = self._run(*args)
        if result.returncode:
            raise RuntimeError(f"terraform {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def variables(self) -> dict[str, str]:
        """The stack's input variables (tests/e2e/aws_stack/main.tf)."""
        return {
            "region": self.options.region,
            "replica_region": self.options.replica_region,
            "recorder_zip": str(self.dir / "recorder.zip"),
        }

    def _variables(self) -> list[str]:
        return [f"-var={name}={value}" for name, value in self.variables().items()]

    def prepare(self) -> Path:
        """The stack's folder, ready to apply: its main.tf and the recorder's zip."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # A relative source: Terraform copies a module given by an absolute path, and the
        # copy's own "../../" would no longer reach the module.
        example = os.path.relpath(ROOT / "examples" / "complete", self.dir)
        source = STACK.read_text().replace('"../../../examples/complete"', json.dumps(example))
        (self.dir / "main.tf").write_text(source)
        (self.dir / "recorder.zip").write_bytes(zip_bytes({"recorder.py": RECORDER}))
        return self.dir

    def apply(self) -> dict[str, Any]:
        self.prepare()
        self._terraform("init", "-input=false", "-no-color")
        self._terraform("apply", "-auto-approve", "-input=false", "-no-color", *self._variables())
        return self._use_outputs(json.loads(self._terraform("output", "-json")))

    def adopt(self, outputs: Mapping[str, Any], data_dir: Path, state: Path) -> dict[str, Any]:
        """Use the stack another tool applied from this folder (the test session's
        pytest-terraform): its outputs (as ``terraform output -json`` gives them); ``drift``
        then plans with that tool's Terraform data folder and state file."""
        self.options.env = {**self.options.env, "TF_DATA_DIR": str(data_dir)}
        self.state = state
        return self._use_outputs(outputs)

    def _use_outputs(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v["value"] for k, v in raw.items()}
        self.outputs = {**out["complete"], "_notifications": out["notifications_queue_url"]}
        self.outputs.update({k: v for k, v in out.items() if k != "complete"})
        return self.outputs

    def drift(self) -> str:
        """What a plan of the applied stack would change ('' when nothing: the provider reads
        back what it applied)."""
        result = self._run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", *self._variables()
        )
        if result.returncode == 1:
            raise RuntimeError(f"terraform plan failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout if result.returncode == 2 else ""

    def destroy(self) -> None:
        self._terraform("destroy", "-auto-approve", "-input=false", "-no-color", *self._variables())

    def wait_enabled(self) -> None:
        """Mappings take a while to start on AWS: changes are driven once they read."""
        lam = self.client("lambda")
        uuids = [*self.outputs["event_source_mapping_uuids"].values()]
        uuids.append(self.outputs["recorder_mapping_uuid"])

        def enabled() -> None:
            states = [lam.get_event_source_mapping(UUID=u)["State"] for u in uuids]
            assert all(s == "Enabled" for s in states), states

        eventually(enabled, self.options.timeout, every=5.0)

    # -- the scenario and what AWS sent ------------------------------------------------------
    def drive_and_check(self) -> Changes:
        run = datetime.now(UTC).strftime("%H%M%S")
        changes = drive(self, self.outputs, run)
        # the recorder fails the batch holding this item: an on-failure message to record
        put(self.client("dynamodb"), self.outputs["table_name"], f"rec-{run}-raise", "APPLIED")
        eventually(lambda: check(self, self.outputs, changes), self.options.timeout)
        return changes

    def read_stream(self) -> None:
        """GetRecords of every shard from TRIM_HORIZON, keeping each response body."""
        streams = self.client("dynamodbstreams")

        def keep(http_response: Any, **_: Any) -> None:
            self.wire.append(json.loads(http_response.content))

        streams.meta.events.register("after-call.dynamodb-streams.GetRecords", keep)
        arn = self.outputs["table_stream_arn"]
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for _ in range(5):
                page = streams.get_records(ShardIterator=iterator, Limit=100)
                iterator = page.get("NextShardIterator")
                if not iterator or page.get("Records"):
                    break

    def recorded(self) -> RecordedShapes:
        sqs = self.client("sqs")
        seen = RecordedShapes()

        def got_all() -> None:
            seen.events += drain(sqs, self.outputs["events_queue_url"])
            seen.failures += drain(sqs, self.outputs["failures_queue_url"])
            assert any(e.get("Records") for e in seen.events), "no recorder event yet"
            assert seen.failures, "no on-failure message yet"

        eventually(got_all, self.options.timeout)
        seen.wire = list(self.wire)
        seen.stream_arn = self.outputs["table_stream_arn"]
        return seen


@dataclass
class RecordedShapes:
    events: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    wire: list[dict[str, Any]] = field(default_factory=list)
    stream_arn: str = ""

    def corpus(self, region: str) -> dict[str, dict[str, Any]]:
        """The shapes as conformance corpus documents, one per kind (account id masked)."""
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        source = {
            "url": "https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html",
            "title": f"Recorded by make e2e-aws in {region} on {when} (review before adding)",
            "kind": "aws-recorded",
        }
        delivered = {
            r["dynamodb"]["SequenceNumber"]: r for e in self.events for r in e.get("Records") or []
        }
        wire_records = [r for body in self.wire for r in body.get("Records") or []]
        both = [r for r in wire_records if r["dynamodb"]["SequenceNumber"] in delivered]
        docs: dict[str, dict[str, Any]] = {}
        if both:
            lambda_records = [delivered[r["dynamodb"]["SequenceNumber"]] for r in both]
            docs["records"] = {
                "source": source,
                "cases": [
                    {
                        "id": "e2e-getrecords-and-delivered",
                        "facts": [
                            "The same stream records as GetRecords returned them (the HTTP "
                            "body) and as Lambda delivered them to a function."
                        ],
                        "stream_arn": self.stream_arn,
                        "get_records_wire": {"Records": both},
                        "lambda_records": lambda_records,
                        "expect": _record_expect(lambda_records),
                    }
                ],
            }
        windowed = [e for e in self.events if "window" in e and e.get("Records")]
        if windowed:
            event = windowed[0]
            docs["windows"] = {
                "source": source,
                "cases": [
                    {
                        "id": "e2e-window-invocation",
                        "facts": ["A tumbling-window invocation as Lambda sent it."],
                        "event": event,
                        "expect": {"aggregates": _window_expect(event)},
                    }
                ],
            }
        if self.failures:
            message = self.failures[0]
            docs["destinations"] = {
                "source": source,
                "cases": [
                    {
                        "id": "e2e-sqs-on-failure",
                        "facts": ["An SQS on-failure message as Lambda sent it."],
                        "target": "sqs",
                        "message": message,
                        "expect": {
                            "condition": message["requestContext"]["condition"],
                            "function_error": (message.get("responseContext") or {}).get(
                                "functionError"
                            ),
                            "response_context": "responseContext" in message,
                            "records": None,
                        },
                    }
                ],
            }
        return {k: _masked(v) for k, v in docs.items()}


def _record_expect(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def iso(value: Any) -> str:
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "event_names": [r["eventName"] for r in records],
        "ttl_expired": [
            (r.get("userIdentity") or {}).get("type") == "Service"
            and (r.get("userIdentity") or {}).get("principalId") == "dynamodb.amazonaws.com"
            for r in records
        ],
        "creation_iso": [iso(r["dynamodb"]["ApproximateCreationDateTime"]) for r in records],
        "images": [[n for n in ("NewImage", "OldImage") if n in r["dynamodb"]] for r in records],
    }


def _window_expect(event: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """What analytics (no group-by) commits for this one invocation: nothing unless it ends
    the window."""
    if not (event.get("isFinalInvokeForWindow") or event.get("isWindowTerminatedEarly")):
        return {}
    counts: dict[str, Counter[str]] = {}
    for r in event["Records"]:
        table = r["eventSourceARN"].split(":table/", 1)[1].split("/", 1)[0]
        start = str(event["window"]["start"]).replace(".000Z", "Z")
        counts.setdefault(f"{table}|window={start}", Counter())[r["eventName"]] += 1
    return {k: dict(v) for k, v in counts.items()}


def _masked(value: Any) -> Any:
    text = json.dumps(value)
    text = re.sub(r"(?<=:)\d{12}(?=:)", MASKED_ACCOUNT, text)
    return json.loads(text)


@contextmanager
def applied(run: Run) -> Iterator[dict[str, Any]]:
    """The stack applied (its outputs) for the block; destroyed after it (unless ``keep``)."""
    try:
        yield run.apply()
    finally:
        if not run.options.keep:
            run.destroy()


def exercise(run: Run) -> RecordedShapes:
    """On the applied stack: drive the changes, check every processor, and collect the event
    shapes that were sent."""
    run.wait_enabled()
    if not run.options.endpoint_url:
        time.sleep(30)  # a mapping reads from its start position a little after Enabled
    run.drive_and_check()
    run.read_stream()
    return run.recorded()


def execute(options: Options) -> dict[str, dict[str, Any]]:
    """Apply, drive, check, record, destroy; returns the corpus documents (and writes and
    prints them)."""
    run = Run(options)
    with applied(run):
        shapes = exercise(run)
    return write_corpus(shapes.corpus(options.region), options.out or run.dir / "corpus")


def write_corpus(docs: dict[str, dict[str, Any]], out: Path) -> dict[str, dict[str, Any]]:
    """Write ``docs`` as ``out/<kind>.json`` (``out`` emptied first) and print them."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for kind, doc in docs.items():
        (out / f"{kind}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"# tests/conformance/cases/{kind}/<source>.json")
        print(json.dumps(doc, indent=2))
    return docs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make e2e-aws", description=__doc__.split("\n\n")[0])
    p.add_argument("--prefix", default=os.environ.get("E2E_AWS_PREFIX", ""))
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1")
    p.add_argument("--replica-region", default="us-west-2")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL") or None)
    p.add_argument("--keep", action="store_true", help="do not destroy the stack")
    args = p.parse_args(argv)
    problem = refusal(args.prefix, args.endpoint_url)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    options = Options(
        prefix=args.prefix,
        region=args.region,
        replica_region=args.replica_region,
        endpoint_url=args.endpoint_url,
        keep=args.keep,
    )
    try:
        execute(options)
    except AssertionError as exc:
        print(f"e2e-aws: a processor's effect is missing or repeated: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"e2e-aws: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
