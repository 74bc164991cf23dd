"""`make demo` / `make up`: the local cloud, examples/complete applied to it, job applications.

    python scripts/demo.py            everything, then tear down (make demo)
    python scripts/demo.py --keep     start and apply, write nothing, keep running (make up)
    python scripts/demo.py --down     stop what --keep left running (make down)

State (endpoint URL, pids, logs, checkpoints, Terraform state) lives in --state-dir
(build/local by default); nothing touches a real AWS account.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "complete"
REGION = "us-east-1"


def sh(cmd: list[str], env: dict[str, str], quiet: bool = False, **kw: Any) -> str:
    print(f"$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, env=env, text=True, capture_output=quiet, **kw)
    if result.returncode:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"demo: {cmd[0]} {cmd[1]} failed ({result.returncode})")
    return result.stdout or ""


def ddbt(*args: str, state: Path) -> None:
    sh(
        [
            sys.executable,
            "-m",
            "ddbt.cli",
            "local",
            *args,
            "--state-dir",
            str(state),
            "--region",
            REGION,
        ],
        env=dict(os.environ),
    )


def tf_env(state: Path, endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "TF_DATA_DIR": str(state / "tfdata"),
            "TF_IN_AUTOMATION": "1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    env.pop("AWS_PROFILE", None)
    config = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tf-cli-config.sh"), str(state / "terraformrc")],
        capture_output=True,
        text=True,
    )
    if config.returncode == 0 and config.stdout.strip():
        env["TF_CLI_CONFIG_FILE"] = config.stdout.strip()  # the offline provider mirror
    return env


def terraform(state: Path, endpoint: str, *args: str, quiet: bool = True) -> str:
    env = tf_env(state, endpoint)
    return sh(["terraform", *args], env=env, quiet=quiet, cwd=EXAMPLE)


def clients(endpoint: str) -> dict[str, Any]:
    import boto3

    kw = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return {s: boto3.client(s, **kw) for s in ("dynamodb", "s3", "sqs", "sns")}


# -- the story ----------------------------------------------------------------------------
JOBS = {
    "job-backend": "Backend engineer",
    "job-data": "Data engineer",
    "job-design": "Product designer",
}
PATHS = [  # application -> statuses it goes through (REMOVE = withdrawn, deleted)
    ("app-001", "job-backend", ["APPLIED", "SCREEN", "INTERVIEW", "OFFER"]),
    ("app-002", "job-backend", ["APPLIED", "SCREEN", "REJECTED"]),
    ("app-003", "job-backend", ["APPLIED", "REJECTED"]),
    ("app-004", "job-data", ["APPLIED", "SCREEN", "INTERVIEW", "REJECTED"]),
    ("app-005", "job-data", ["APPLIED", "SCREEN", "INTERVIEW", "OFFER"]),
    ("app-006", "job-data", ["APPLIED", "REMOVE"]),
    ("app-007", "job-design", ["APPLIED", "SCREEN"]),
    ("app-008", "job-design", ["APPLIED", "SCREEN", "INTERVIEW"]),
    ("app-009", "job-design", ["APPLIED", "SCREEN", "REMOVE"]),
    ("app-010", "job-backend", ["APPLIED"]),
]
NAMES = [
    "Ada",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Alan",
    "Radia",
]


def write_stream(ddb: Any, table: str) -> int:
    """Interleaved changes like a real hiring pipeline; returns the number of changes."""
    changes = 0
    steps = max(len(p[2]) for p in PATHS)
    for step in range(steps):
        for (app, job, statuses), name in zip(PATHS, NAMES, strict=True):
            if step >= len(statuses):
                continue
            status = statuses[step]
            key = {"application_id": {"S": app}}
            if status == "REMOVE":
                ddb.delete_item(TableName=table, Key=key)
            elif step == 0:
                ddb.put_item(
                    TableName=table,
                    Item={
                        **key,
                        "job_id": {"S": job},
                        "status": {"S": status},
                        "candidate": {"S": name},
                        "email": {"S": f"{name.lower()}@example.com"},
                        "applied_at": {"N": str(int(time.time()))},
                    },
                )
            else:
                ddb.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET #s = :s, updated_at = :t",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":s": {"S": status},
                        ":t": {"N": str(int(time.time()))},
                    },
                )
            changes += 1
    # The poison item: an N with 42 significant digits. Real DynamoDB refuses it (38 digits
    # max), moto stores it, and the handlers reject it as not a DynamoDB number, so this
    # record cannot be processed and must end in the DLQ alone.
    ddb.put_item(
        TableName=table,
        Item={
            "application_id": {"S": "app-999"},
            "job_id": {"S": "job-data"},
            "status": {"S": "APPLIED"},
            "candidate": {"S": "Mallory"},
            "salary_expectation": {"N": "123456789012345678901234567890123456789012"},
        },
    )
    return changes + 1


def show(endpoint: str, outputs: dict[str, Any], queue_url: str) -> None:
    c = clients(endpoint)
    bucket = outputs["etl_bucket_name"]["value"]
    print("\n== S3: ETL objects ==")
    objects = c["s3"].list_objects_v2(Bucket=bucket).get("Contents") or []
    total = 0
    for obj in objects:
        body = c["s3"].get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        lines = (
            gzip.decompress(body).decode().splitlines()
            if obj["Key"].endswith(".gz")
            else body.decode().splitlines()
        )
        total += len(lines)
        print(f"s3://{bucket}/{obj['Key']}  ({len(lines)} lines)")
        for line in lines[:2]:
            print(f"    {line[:150]}")
    print(f"   {len(objects)} objects, {total} lines")

    print("\n== Notifications (SNS topic -> SQS subscription) ==")
    seen = 0
    while True:
        msgs = (
            c["sqs"]
            .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            .get("Messages")
            or []
        )
        if not msgs:
            break
        for m in msgs:
            seen += 1
            body = json.loads(m["Body"])
            print(f"    {body.get('Message', m['Body'])[:160]}")
            c["sqs"].delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    print(f"   {seen} notifications")

    print("\n== Analytics aggregates ==")
    table = outputs["analytics_table_name"]["value"]
    items = c["dynamodb"].scan(TableName=table).get("Items") or []
    for item in sorted(items, key=lambda i: i["pk"]["S"]):
        values = {k: next(iter(v.values())) for k, v in item.items() if k != "pk"}
        print(f"    {item['pk']['S']:<40} {values}")

    print("\n== DLQ ==")
    for url in (outputs.get("dlq_urls", {}).get("value") or {}).values():
        msgs = (
            c["sqs"]
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            .get("Messages")
            or []
        )
        print(f"   {url.rsplit('/', 1)[-1]}: {len(msgs)} message(s)")
        for m in msgs:
            print("    " + json.dumps(json.loads(m["Body"]), indent=2).replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", default=str(ROOT / "build" / "local"))
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    parser.add_argument("--down", action="store_true", help="stop what --keep started")
    args = parser.parse_args(argv)
    state = Path(args.state_dir).resolve()

    if args.down:
        ddbt("down", state=state)
        for stale in ("terraform.tfstate", "terraform.tfstate.backup"):
            (state / stale).unlink(missing_ok=True)  # the endpoint (and its resources) is gone
        return 0

    if shutil.which("terraform") is None:
        raise SystemExit("demo: terraform is not on PATH")
    ddbt("up", state=state)
    endpoint = (state / "endpoint").read_text().strip()
    ok = False
    try:
        tfstate = f"-state={state / 'terraform.tfstate'}"
        terraform(state, endpoint, "init", "-input=false", "-no-color")
        print(
            "(terraform apply against the local endpoint takes about a minute: the AWS "
            "provider waits for SQS and S3 settings to settle)",
            flush=True,
        )
        terraform(state, endpoint, "apply", "-input=false", "-no-color", "-auto-approve", tfstate)
        outputs = json.loads(terraform(state, endpoint, "output", "-json", tfstate))
        if args.keep:
            ok = True
            print("\n== examples/complete on the local cloud ==")
            for name, value in outputs.items():
                print(f"   {name} = {json.dumps(value['value'])}")
            print(
                f"\nPoint the AWS CLI/SDKs/Terraform at it:\n"
                f"   eval $({sys.executable} -m ddbt.cli local env --state-dir {state})\n"
                f"Write items to {outputs['table_name']['value']}; the pollers' live lines "
                f"are in {state / 'runner.log'}, function logs in {state / 'logs'}.\n"
                f"Terraform state: {state / 'terraform.tfstate'}. `make down` stops it all."
            )
            return 0
        c = clients(endpoint)
        queue_url = c["sqs"].create_queue(QueueName="demo-notifications")["QueueUrl"]
        queue_arn = c["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        c["sns"].subscribe(
            TopicArn=outputs["notification_topic_arn"]["value"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        table = outputs["table_name"]["value"]
        print(f"\n== Writing job applications to {table} ==", flush=True)
        count = write_stream(c["dynamodb"], table)
        print(
            f"   {count} item changes written; waiting for the pollers "
            f"(live lines: {state / 'runner.log'})",
            flush=True,
        )
        ddbt("wait", "--timeout", "180", state=state)
        print("\n== Poller lines ==")
        print((state / "runner.log").read_text().rstrip())
        show(endpoint, outputs, queue_url)
        ok = True
    finally:
        if not args.keep or not ok:
            ddbt("down", state=state)
            for stale in ("terraform.tfstate", "terraform.tfstate.backup"):
                (state / stale).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
