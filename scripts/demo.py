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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "complete"
REGION = "us-east-1"
WIDTH = 100  # the output reads at 100 columns
POISON = "app-999"


def wrap(text: str, indent: str = "    ", cont: str | None = None) -> str:
    """``text`` in lines of at most WIDTH columns, broken at spaces (and in a long path after
    a ``/``), never inside a word; continuation lines indented by ``cont``."""
    cont = indent + "  " if cont is None else cont
    room = WIDTH - len(cont)
    pieces: list[tuple[str, str]] = []  # (glue before it, piece)
    for word in text.split(" "):
        glue = " "
        while len(word) > room and "/" in word[: room - 1]:
            cut = word.rindex("/", 0, room - 1) + 1
            pieces.append((glue, word[:cut]))
            word, glue = word[cut:], ""
        pieces.append((glue, word))
    lines, line = [], indent
    for glue, piece in pieces:
        if line in (indent, cont):
            glue = ""
        if len(line) + len(glue) + len(piece) > WIDTH and line.strip():
            lines.append(line.rstrip())
            line, glue = cont, ""
        line += glue + piece
    lines.append(line.rstrip())
    return "\n".join(lines)


def say(text: str, indent: str = "    ", cont: str | None = None) -> None:
    print(wrap(text, indent, cont), flush=True)


def clip(text: str, width: int = WIDTH - 4) -> str:
    """``text`` cut at a word boundary to ``width`` columns, ending in `` ...``."""
    if len(text) <= width:
        return text
    cut = text[: width - 4]
    boundary = max(cut.rfind(" "), cut.rfind(","))
    return (cut[: boundary + 1] if boundary > width // 2 else cut).rstrip() + " ..."


def shown(path: Path) -> str:
    """A path as the reader of the demo would type it (relative to the repository)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def sh(cmd: list[str], env: dict[str, str], quiet: bool = False, show: str = "", **kw: Any) -> str:
    say(f"$ {show or ' '.join(cmd)}", indent="", cont="    ")
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
        show=f"ddbt local {' '.join(args)} --state-dir {shown(state)}",
    )


def tf_env(state: Path, endpoint: str) -> dict[str, str]:
    from ddbt.aws import local_env

    env = dict(os.environ)
    env.update(local_env(endpoint, REGION))
    env.update(TF_DATA_DIR=str(state / "tfdata"), TF_IN_AUTOMATION="1")
    env.pop("AWS_PROFILE", None)
    cache = state / "cache-endpoint"  # the local Valkey/Redis server `ddbt local up` started
    if cache.exists():
        env["TF_VAR_cache_endpoint"] = cache.read_text().strip()
        env["TF_VAR_cache_tls"] = "false"
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
    show = " ".join(["terraform", *args]).replace(str(state), shown(state))
    return sh(["terraform", *args], env=env, quiet=quiet, cwd=EXAMPLE, show=show)


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


def _changes(changed: dict[str, Any] | None) -> str:
    """A notification's or event's changedAttributes as ``name: old -> new`` text."""
    out = []
    for name, change in sorted((changed or {}).items()):
        if change.get("redacted"):
            out.append(f"{name}: (redacted)")
        elif "old" in change and "new" in change:
            out.append(f"{name}: {json.dumps(change['old'])} -> {json.dumps(change['new'])}")
        elif "new" in change:
            out.append(f"+{name}: {json.dumps(change['new'])}")
        else:
            out.append(f"-{name}: {json.dumps(change.get('old'))}")
    return "; ".join(out)


def _drain(sqs: Any, queue_url: str) -> Iterator[dict[str, Any]]:
    """Every message on the queue until a receive finds none; each deleted once the caller
    is done with it."""
    while True:
        msgs = (
            sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages"
            )
            or []
        )
        if not msgs:
            return
        for m in msgs:
            yield m
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def show(endpoint: str, outputs: dict[str, Any], queue_url: str) -> None:
    c = clients(endpoint)
    bucket = outputs["etl_bucket_name"]["value"]
    print("\n== ETL: every change as a JSON line in S3 (gzip, one object per batch) ==")
    objects = c["s3"].list_objects_v2(Bucket=bucket).get("Contents") or []
    total, folder, first = 0, "", ""
    for obj in objects:
        body = c["s3"].get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        text = gzip.decompress(body) if obj["Key"].endswith(".gz") else body
        lines = text.decode().splitlines()
        total += len(lines)
        prefix, _, name = obj["Key"].rpartition("/")
        if prefix != folder:
            folder = prefix
            say(f"s3://{bucket}/{prefix}/", indent="   ")
        say(f"{name}  {len(lines)} lines")
        first = first or (lines[0] if lines else "")
    print(f"   {len(objects)} objects, {total} lines; the first line:")
    if first:
        say(json.dumps(json.loads(first), ensure_ascii=False), indent="    ", cont="      ")

    print("\n== Notifications: status changes, from the SNS topic (via an SQS subscription) ==")
    seen = 0
    for m in _drain(c["sqs"], queue_url):
        seen += 1
        body = json.loads(json.loads(m["Body"]).get("Message", m["Body"]))
        if seen <= 8:
            keys = json.dumps(body.get("keys"))
            say(f"{body.get('eventName')} {keys} {_changes(body.get('changedAttributes'))}")
    print(f"   {seen} notifications" + (" (the first 8 shown)" if seen > 8 else ""))

    print("\n== Analytics: counts per job and status, and status transitions ==")
    table = outputs["analytics_table_name"]["value"]
    items = c["dynamodb"].scan(TableName=table).get("Items") or []
    for item in sorted(items, key=lambda i: i["pk"]["S"]):
        group = " ".join(f"{k}={_plain(v)}" for k, v in sorted(item["group"]["M"].items()))
        counts = ", ".join(
            f"{k} {_plain(v)}"
            for k, v in item.items()
            if k not in ("pk", "table", "group", "expires_at") and "N" in v
        )
        say(f"{group:<36} {counts}")

    print("\n== DLQ ==")
    for url in (outputs.get("dlq_urls", {}).get("value") or {}).values():
        msgs = (
            c["sqs"]
            .receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
            )
            .get("Messages")
            or []
        )
        note = f" (the archiver already moved {POISON}'s message to S3: see the end)"
        say(f"{url.rsplit('/', 1)[-1]}: {len(msgs)} message(s)" + ("" if msgs else note), "   ")
        for m in msgs:
            print("    " + json.dumps(json.loads(m["Body"]), indent=2).replace("\n", "\n    "))


# -- the event bus, the view and the replica -------------------------------------------------
def _plain(value: dict[str, Any]) -> Any:
    """A typed attribute value as plain text for printing."""
    ((tag, inner),) = value.items()
    if tag == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if tag == "L":
        return [_plain(v) for v in inner]
    return inner


def _version(text: str) -> str:
    """``_ddbt_version`` (change time, the sequence number's length, its first 26 digits) in
    its three parts."""
    length = int(text[10:12])
    return f"{text[:10]} {text[10:12]} {text[12 : 12 + length]}"


def show_new_processors(state: Path, endpoint: str, outputs: dict[str, Any]) -> None:
    import boto3

    def out(name: str) -> Any:
        return (outputs.get(name) or {}).get("value")

    c = clients(endpoint)
    queue = out("status_changes_queue_url")
    if queue:
        print("\n== Event bus: the rule status-changes routes MODIFY events to an SQS queue ==")
        seen = 0
        for m in _drain(c["sqs"], queue):
            seen += 1
            event = json.loads(m["Body"])
            detail = event.get("detail") or {}
            if seen == 1:
                say(f"source {event.get('source')}, detail-type {event.get('detail-type')}:")
            if seen <= 6:
                keys = json.dumps(detail.get("keys"))
                say(f"{keys} {_changes(detail.get('changedAttributes'))}", indent="      ")
        print(f"   {seen} events on the queue (every other change is on the bus too)")

    view = out("view_table_name")
    if view:
        print(f"\n== View {view}: applications by job (job_id, application_id) ==")
        say(
            "_ddbt_version orders the writes (last writer wins): the change time in epoch "
            "seconds, the length of the stream sequence number, then the number itself; a "
            "write only applies over an older version. Shown here in those three parts.",
            indent="   ",
            cont="   ",
        )
        items = c["dynamodb"].scan(TableName=view).get("Items") or []
        live = [i for i in items if "_ddbt_deleted" not in i]
        for item in sorted(live, key=lambda i: (i["job_id"]["S"], i["application_id"]["S"])):
            print(
                f"    {item['job_id']['S']:<12} {item['application_id']['S']:<8} "
                f"{item.get('status', {}).get('S', '?'):<10} "
                f"_ddbt_version {_version(item['_ddbt_version']['N'])}"
            )
        print(f"   {len(live)} view items, {len(items) - len(live)} tombstones (removed items)")

    replica = out("replica_table_arn")
    if replica:
        region = replica.split(":")[3]
        name = replica.rsplit("/", 1)[-1]
        print(f"\n== Replica {name} in {region} ==")
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        items = ddb.scan(TableName=name).get("Items") or []
        live = [i for i in items if "_ddbt_deleted" not in i]
        for item in sorted(live, key=lambda i: i["application_id"]["S"])[:4]:
            shown_item = {k: _plain(v) for k, v in item.items() if not k.startswith("_ddbt")}
            print(f"    {clip(json.dumps(shown_item))}")
        print(f"   {len(live)} items, {len(items) - len(live)} tombstones")
        args = (
            *("verify-replica", "--source-table", out("table_name")),
            *("--replica-table", name, "--replica-region", region),
        )
        say(f"$ ddbt {' '.join(args)}", indent="", cont="    ")
        result = subprocess.run(
            ops_cmd(endpoint, *args), env=tf_env(state, endpoint), text=True, capture_output=True
        )
        for line in (result.stdout or result.stderr).splitlines()[:12]:
            say(line)
        if result.returncode == 1:
            say(
                f"-> expected: {POISON}, the deliberately bad record, is missing from the "
                "replica; every other item matches.",
                indent="   ",
            )
        elif result.returncode:
            print(f"   ddbt verify-replica could not compare (exit status {result.returncode})")


# -- the cache in step with the table (issue 18) --------------------------------------------
CACHE_ITEM = "app-042"


def _entry(client: Any, key: str) -> str:
    """An entry as the demo shows it: its value, or that it is a tombstone, or absent."""
    stored = client.hgetall(key)
    if not stored:
        return "(no entry)"
    if "value" in stored:
        return f"value {stored['value']}"
    version = _version(stored.get("_ddbt_version", "0"))
    return f"tombstone (_ddbt_deleted 1, _ddbt_version {version}; expires in 2 days)"


def cache_story(state: Path, endpoint: str, outputs: dict[str, Any]) -> None:
    """One item set, changed, then deleted, and the cache entry after each change."""
    import redis

    found = (outputs.get("cache_endpoint") or {}).get("value")
    if not found:
        return
    host, port = found.rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port), decode_responses=True)
    table = outputs["table_name"]["value"]
    key = f'ddbt:{table}:{{"application_id":"{CACHE_ITEM}"}}'
    print(f"\n== Cache: Valkey/Redis at {found} follows the table ==")
    say(
        f"The entry of item {CACHE_ITEM} is the hash at {key}; its `value` is the item as JSON, "
        "and a Lua script on the server writes only when the change is newer than what it "
        "holds (last writer wins, as the view).",
        indent="   ",
        cont="   ",
    )
    ddb = clients(endpoint)["dynamodb"]
    item_key = {"application_id": {"S": CACHE_ITEM}}
    steps: list[tuple[str, Any]] = [
        (
            "put_item (status APPLIED)",
            lambda: ddb.put_item(
                TableName=table,
                Item={**item_key, "job_id": {"S": "job-data"}, "status": {"S": "APPLIED"}},
            ),
        ),
        (
            "update_item (status SCREEN)",
            lambda: ddb.update_item(
                TableName=table,
                Key=item_key,
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "SCREEN"}},
            ),
        ),
        ("delete_item", lambda: ddb.delete_item(TableName=table, Key=item_key)),
    ]
    for label, write in steps:
        write()
        ddbt("wait", "--timeout", "60", state=state)
        say(f"{label}:", indent="    ")
        say(_entry(client, key), indent="      ", cont="        ")
    live = sum(1 for k in client.scan_iter(match=f"ddbt:{table}:*") if client.hexists(k, "value"))
    say(
        f"{live} entries hold an item of {table} (the table's live items but {POISON}, the "
        "bad record; every deleted item has a tombstone).",
        indent="   ",
        cont="   ",
    )
    client.close()


# -- ddbt tail and ddbt redrive in action (issue 7) -----------------------------------------
def ops_cmd(endpoint: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "ddbt.cli", *args, "--endpoint-url", endpoint, "--region", REGION
    ]  # fmt: skip


def start_tail(state: Path, endpoint: str, table: str) -> subprocess.Popen[str]:
    """`ddbt tail` on the table while the demo writes (from the stream's start: the table is
    new, so that is exactly the demo's changes); it exits 4 s after the last change."""
    cmd = ops_cmd(endpoint, "tail", table, "--from-start", "--idle-exit", "4", "--poll", "0.2")
    print(f"$ ddbt tail {table} --from-start --idle-exit 4   (in the background)", flush=True)
    return subprocess.Popen(
        cmd, env=tf_env(state, endpoint), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def show_tail(tail: subprocess.Popen[str]) -> None:
    print("\n== ddbt tail: the changes as they happened (decoded; MODIFY as a diff) ==")
    try:
        out, err = tail.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        tail.kill()
        out, err = tail.communicate()
    lines = out.splitlines()
    picked = lines[:4] + (["..."] if len(lines) > 7 else []) + lines[max(4, len(lines) - 3) :]
    for line in picked:
        print(f"    {clip(line)}")
    print(f"   {len(lines)} changes followed (long lines cut here, at ...)")
    if tail.returncode:
        last = (err.strip().splitlines() or ["?"])[-1]
        say(f"ddbt tail stopped with exit status {tail.returncode}: {last}", indent="   ")


def run_ops(state: Path, endpoint: str, *args: str) -> str:
    """An ops command (its exit status 1 means "something was left": shown, not fatal)."""
    say(f"$ ddbt {' '.join(args)}", indent="", cont="    ")
    result = subprocess.run(
        ops_cmd(endpoint, *args), env=tf_env(state, endpoint), text=True, capture_output=True
    )
    if result.returncode not in (0, 1):
        print(result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"demo: ddbt {args[0]} failed ({result.returncode})")
    for line in result.stdout.splitlines():
        say(line)
    return result.stdout


def redrive_story(state: Path, endpoint: str, outputs: dict[str, Any]) -> None:
    """The poison record's DLQ message: a redrive through the deployed function shows that the
    record still fails (the record itself is bad); archiving it to S3 empties the DLQ with
    nothing lost."""
    dlqs = outputs.get("dlq_urls", {}).get("value") or {}
    functions = outputs["function_names"]["value"]
    if not dlqs:
        return
    key, url = next(iter(sorted(dlqs.items())))
    function = functions.get(key) or next(iter(functions.values()))
    c = clients(endpoint)
    print(f"\n== ddbt redrive: {POISON}, the deliberately bad record, after its failure ==")
    if not dlq_depth(c["sqs"], url):
        archive_story(state, endpoint, outputs, function)
        return
    table = outputs["table_name"]["value"]
    c["dynamodb"].put_item(
        TableName=table,
        Item={
            "application_id": {"S": "app-011"},
            "job_id": {"S": "job-design"},
            "status": {"S": "APPLIED"},
            "candidate": {"S": "Edsger"},
        },
    )
    print(f"   (meanwhile app-011 applies: {table}'s stream moves on)")
    run_ops(
        state,
        endpoint,
        *("redrive", "--queue", url, "--function", function, "--invoke"),
        *("--visibility-timeout", "1"),
    )
    time.sleep(1.5)  # the message is visible again
    say(
        f"-> expected: still failing, the record itself is bad ({POISON}'s 42-digit number). "
        "Archive it to S3 (kept for a later `ddbt replay --from-archive`), empty the DLQ:",
        indent="   ",
        cont="      ",
    )
    bucket = outputs["etl_bucket_name"]["value"]
    run_ops(state, endpoint, "redrive", "--queue", url, "--to-s3", f"s3://{bucket}/dlq/")
    print(f"   {url.rsplit('/', 1)[-1]}: {dlq_depth(c['sqs'], url)} message(s) left")


def archive_story(state: Path, endpoint: str, outputs: dict[str, Any], function: str) -> None:
    """The DLQ archiver already took the failure message (within seconds): the record is in
    S3, past the stream's 24 hours; a redrive from the archive through the deployed function
    shows it still fails, so the archive is kept."""
    bucket = (outputs.get("dlq_archive_bucket_name") or {}).get("value")
    prefix = (outputs.get("dlq_archive_prefix") or {}).get("value") or ""
    if not bucket:
        print("   the DLQ is empty: nothing failed")
        return
    s3 = clients(endpoint)["s3"]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    say(
        f"The DLQ is empty: within seconds the archiver copied the records its message "
        f"described ({POISON}) to s3://{bucket}/{prefix}, past the stream's 24 hours:",
        indent="   ",
        cont="   ",
    )
    for key in keys:
        say(key)
    if not keys:
        return
    say(
        "Redrive the archive through the deployed function. The record is still bad, so it "
        "fails again and its archive stays for later (expected):",
        indent="   ",
        cont="   ",
    )
    run_ops(
        state,
        endpoint,
        *("redrive", "--from-s3", f"s3://{bucket}/{prefix}", "--function", function, "--invoke"),
    )


def dlq_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


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
        say(
            "(terraform apply against the local endpoint takes about a minute: the AWS "
            "provider waits for SQS and S3 settings to settle)",
            indent="",
            cont="",
        )
        terraform(state, endpoint, "apply", "-input=false", "-no-color", "-auto-approve", tfstate)
        outputs = json.loads(terraform(state, endpoint, "output", "-json", tfstate))
        if args.keep:
            ok = True
            print("\n== examples/complete on the local cloud ==")
            for name, value in outputs.items():
                say(f"{name} = {json.dumps(value['value'])}", indent="   ")
            print()
            say(
                "The export line above points the AWS CLI, SDKs, Terraform and ddbt at it, "
                f'from any folder (or: eval "$(.venv/bin/ddbt local env --state-dir '
                f'{shown(state)})"). Write items to {outputs["table_name"]["value"]}; the '
                f"pollers' live lines are in {shown(state / 'runner.log')}, function logs in "
                f"{shown(state / 'logs')}, the Terraform state in "
                f"{shown(state / 'terraform.tfstate')}. `make down` stops it all.",
                indent="",
                cont="",
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
        tail = start_tail(state, endpoint, table)
        print(f"\n== Writing job applications to {table} ==", flush=True)
        count = write_stream(c["dynamodb"], table)
        say(
            f"{count} item changes written: {count - 1} of ten applications going through a "
            f"hiring pipeline, then {POISON}, a deliberately bad record. Its salary_expectation "
            "has 42 significant digits: DynamoDB would refuse it (38 at most), the local "
            "endpoint stores it anyway, and the processors reject it. So expect its batch to "
            "fail, to be retried and bisected down to that one record, and the record to be "
            "given up to the dead-letter queue; every other change is processed.",
            indent="   ",
            cont="   ",
        )
        say(f"Waiting for the pollers (live lines: {shown(state / 'runner.log')})", indent="   ")
        ddbt("wait", "--timeout", "180", state=state)
        print("\n== Poller lines ==")
        say(
            "time, function, shard, records (sequence numbers' last digits), duration, lag, result",
            indent="   ",
        )
        # runner.log keeps earlier runs of this state directory: this run's lines only
        lines = (state / "runner.log").read_text().rstrip()
        for line in lines[max(0, lines.rfind("ddbt local run: polling") - 9) :].splitlines():
            say(line, indent="", cont=" " * 9)
        show(endpoint, outputs, queue_url)
        show_new_processors(state, endpoint, outputs)
        cache_story(state, endpoint, outputs)
        show_tail(tail)
        redrive_story(state, endpoint, outputs)
        ok = True
    finally:
        if not args.keep or not ok:
            ddbt("down", state=state)
            for stale in ("terraform.tfstate", "terraform.tfstate.backup"):
                (state / stale).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
