"""ddbt as a user meets it: the help, the region resolved as the AWS CLI does, one line and
exit status 2 for ordinary mistakes (never a traceback), generate-event's sample, binary
values in tail, and the local cloud found from any folder."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddbt import aws
from ddbt.cli import build_parser, main
from ddbt.ops.itemsize import item_size
from ddbt.ops.tail import describe_change
from handlers.stream import parse_event
from tests.conformance.corpus import cases
from tests.conftest import create_table, make_client

ROOT = Path(__file__).resolve().parents[2]
AWS_COMMANDS = ("backfill", "redrive", "replay", "tail", "verify-replica")
ANALYTICS = ("--processor", "analytics", "--env", "AGGREGATES_TABLE=aggregates")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for sub in _subcommands(parser).values():
        yield from _every_parser(sub)


# -- help -----------------------------------------------------------------------------------
def test_help_lists_every_command_and_every_local_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    commands = _subcommands(parser)
    assert set(commands) == {"local", *AWS_COMMANDS, "generate-event"}
    for name in commands:
        assert re.search(rf"^ {{4}}{re.escape(name)}(\s|$)", text, re.M), name
    local_line = re.search(r"^ {4}local\s+(.*)$", text, re.M)
    assert local_line is not None
    for name in _subcommands(commands["local"]):
        assert name in local_line.group(1), f"ddbt --help does not name `ddbt local {name}`"


def test_help_is_written_for_users() -> None:
    internal = re.compile(r"``|\b(?:ddbt|handlers)\.[a-z_]+\b|make_record|run_batch|build\(env\)")
    for parser in _every_parser(build_parser()):
        text = parser.format_help()
        found = internal.findall(text)
        assert not found, f"{parser.prog} --help shows internal names: {found}"
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{parser.prog} {action.option_strings[0]} has no help"


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ddbt {version('dynamodb-triggers')}"


# -- region -----------------------------------------------------------------------------------
@pytest.fixture
def no_region(aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Credentials and the moto endpoint, but no region anywhere (an empty config file)."""
    config = tmp_path / "aws-config"
    config.write_text("")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def _stack() -> None:
    """A stream table with an item, an aggregates table, an empty queue (us-east-1)."""
    create_table("src", stream="NEW_AND_OLD_IMAGES")
    create_table("aggregates")
    make_client("dynamodb").put_item(TableName="src", Item={"pk": {"S": "a"}})
    make_client("sqs").create_queue(QueueName="dlq")


def test_region_order_is_the_aws_clis(no_region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws.region() is None
    no_region.write_text("[profile dev]\nregion = eu-west-2\n")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert aws.region() == "eu-west-2"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws.region() == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert aws.region() == "ap-south-1"
    assert aws.region("sa-east-1") == "sa-east-1"


def test_each_session_reads_the_environment_anew_and_shares_the_model_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a new session per command sees the credentials as they are now, while botocore's parsed
    # models are kept for the process (a client of its own session cost 70 ms of CPU)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    first = aws.session()
    assert first.get_credentials().access_key == "first"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    second = aws.session()
    assert second.get_credentials().access_key == "second"
    loaders = {id(s._session.get_component("data_loader")) for s in (first, second)}
    assert len(loaders) == 1


def test_with_only_aws_region_every_aws_command_works(
    no_region: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _stack()
    assert main(["tail", "src", "--from-start", "--max-records", "1"]) == 0
    assert 'INSERT {"pk": "a"}' in capsys.readouterr().out
    cp = str(tmp_path / "cp.json")
    assert main(["backfill", "src", *ANALYTICS, "--checkpoint", cp]) == 0
    assert "1 records processed, 0 failed" in capsys.readouterr().out
    assert main(["redrive", "--queue", "dlq", *ANALYTICS]) == 0
    assert "redrive: 0 messages" in capsys.readouterr().out
    assert main(["replay", "--table", "src", "--mode", "skip", *ANALYTICS, "--dry-run"]) == 0
    assert "1 records in range" in capsys.readouterr().out
    assert main(["verify-replica", "--source-table", "src", "--replica-table", "src"]) == 0
    assert "OK: the replica matches the source" in capsys.readouterr().out


def test_region_from_the_profile(no_region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_region.write_text("[profile dev]\nregion = eu-west-2\n")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    ddb = boto3.session.Session().client("dynamodb", region_name="eu-west-2")
    ddb.create_table(
        TableName="eu",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    ddb.put_item(TableName="eu", Item={"pk": {"S": "x"}})
    assert main(["tail", "eu", "--from-start", "--max-records", "1"]) == 0


# -- one line for ordinary mistakes -----------------------------------------------------------
def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("ddbt: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["tail", "src"],
        ["backfill", "src", "--processor", "analytics"],
        ["redrive", "--queue", "dlq", "--processor", "analytics"],
        ["replay", "--table", "src", "--mode", "skip", "--processor", "analytics"],
        ["verify-replica", "--source-table", "src", "--replica-table", "rep"],
    ],
    ids=lambda argv: argv[0],
)
def test_no_region_is_one_line(
    no_region: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    err = _one_line(capsys, argv)
    assert "no AWS region: pass --region, or set AWS_REGION" in err


def test_no_credentials_is_one_line(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert "no AWS credentials" in _one_line(capsys, ["tail", "src"])


def test_unknown_profile_is_one_line(
    no_region: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    assert "nope" in _one_line(capsys, ["tail", "src"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tail", "no-such-table"], "Table: no-such-table not found (DescribeTable, region us-"),
        (["backfill", "no-such-table", *ANALYTICS], "no-such-table not found"),
        (["verify-replica", "--source-table", "src", "--replica-table", "nope"], "nope not found"),
        (["replay", "--table", "no-such-table", "--mode", "skip", *ANALYTICS], "table not found"),
        (["redrive", "--queue", "nope", *ANALYTICS], "queue does not exist (GetQueueUrl"),
        (["tail", "plain"], "table plain has no stream: enable one"),
        (["generate-event", '{"pk": '], "the item is not valid JSON"),
        (["generate-event", "--keys", "pk"], "give the item too"),
        (["backfill", "src"], "name --processor ("),
        (["redrive", "--from-s3", "lake/x", "--processor", "etl"], "expected s3://BUCKET/PREFIX"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_ordinary_mistakes_are_one_line(
    aws_env: str, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    create_table("src")
    create_table("plain")
    err = _one_line(capsys, argv)
    assert expected in err, err


def test_an_unreachable_endpoint_is_one_line(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert "cannot reach http://127.0.0.1:9" in _one_line(capsys, ["tail", "src"])


def test_a_missing_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["replay", "--table", "src"], ["tail"], []):
        with pytest.raises(SystemExit) as raised:
            main(argv)
        err = capsys.readouterr().err
        assert raised.value.code == 2
        assert err.count("\n") == 1 and "required" in err and "--help)" in err, err


def test_the_console_script_prints_no_traceback(aws_env: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ddbt.cli", "tail", "no-such-table"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("ddbt: Requested resource not found: Table: no-such-table")
    assert result.stderr.count("\n") == 1


# -- generate-event --------------------------------------------------------------------------
@pytest.fixture
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)


def _generate(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["generate-event", *argv]) == 0
    event: dict[str, Any] = json.loads(capsys.readouterr().out)
    return event


def test_without_an_item_the_sample_is_the_developer_guides_event(
    plain_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (case,) = [c for c in cases("records") if c.file == "lambda-dynamodb-example"]
    for record in case["lambda_records"]:
        argv = ["--view-type", "NEW_AND_OLD_IMAGES", "--event-name", record["eventName"]]
        assert _generate(capsys, *argv) == {"Records": [record]}


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
@pytest.mark.parametrize("name", ["INSERT", "MODIFY", "REMOVE"])
def test_the_sample_in_every_view_type(
    plain_env: None, capsys: pytest.CaptureFixture[str], view: str, name: str
) -> None:
    event = _generate(capsys, "--view-type", view, "--event-name", name, "--table", "jobs")
    (record,) = parse_event(event)
    record.check()
    block = event["Records"][0]["dynamodb"]
    has_new = name != "REMOVE" and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    has_old = name != "INSERT" and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    assert ("NewImage" in block, "OldImage" in block) == (has_new, has_old)
    assert block["StreamViewType"] == view and record.table_name == "jobs"
    parts = [block[p] for p in ("Keys", "NewImage", "OldImage") if p in block]
    assert block["SizeBytes"] == sum(item_size(p) for p in parts)


def test_item_sizes_follow_dynamodbs_rules() -> None:
    # "Item sizes and formats": name bytes + value; numbers 1 byte per 2 significant digits
    # + 1; lists and maps 3 bytes + 1 per element; binary its raw bytes.
    assert item_size({"Id": {"N": "101"}}) == 2 + 3
    assert item_size({"n": {"N": "-0.0012300"}}) == 1 + 3  # 3 significant digits: 2 + 1
    assert item_size({"s": {"S": "Zoë"}}) == 1 + 4
    assert item_size({"b": {"B": "AAE="}}) == item_size({"b": {"B": b"\x00\x01"}}) == 1 + 2
    assert item_size({"m": {"M": {"k": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"NULL": True}, {"S": "ab"}]}}) == 1 + 3 + (1 + 1) + (2 + 1)


# -- tail --------------------------------------------------------------------------------------
def test_tail_shows_binary_values_as_base64(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_table("bin", stream="NEW_AND_OLD_IMAGES")
    item = {"pk": {"S": "a"}, "raw": {"B": b"\x00\xff"}, "set": {"BS": [b"\x01"]}}
    make_client("dynamodb").put_item(TableName="bin", Item=item)
    assert main(["tail", "bin", "--from-start", "--max-records", "1"]) == 0
    line = capsys.readouterr().out
    assert '"raw": "AP8="' in line and '"set": ["AQ=="]' in line and "b'" not in line
    # describe_change reads the Lambda event shape, where binaries are base64 text
    old = {"pk": {"S": "a"}, "raw": {"B": "AA=="}}
    new = {"pk": {"S": "a"}, "raw": {"B": "AP8="}, "set": {"BS": ["AQ=="]}}
    record = {"eventName": "MODIFY", "dynamodb": {"Keys": old, "OldImage": old, "NewImage": new}}
    assert 'raw: "AA==" -> "AP8="' in describe_change(record)


# -- the local cloud from any folder -----------------------------------------------------------
def _ddbt(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ddbt.cli", *argv],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_local_cloud_is_found_from_any_folder(tmp_path: Path) -> None:
    here, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DDBT_STATE_DIR"}
    up = _ddbt("local", "up", "--no-pollers", "--state-dir", "build/local", cwd=here, env=env)
    try:
        block = up[up.index("export ") :]
        exports = dict(pair.split("=", 1) for pair in shlex.split(block.replace("\\\n", " "))[1:])
        assert Path(exports["DDBT_STATE_DIR"]) == here / "build" / "local"
        # the printed block, pasted into a shell in another folder
        script = f"{block}\n{shlex.quote(sys.executable)} -m ddbt.cli local status"
        status = subprocess.run(
            ["bash", "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"endpoint {exports['AWS_ENDPOINT_URL']} (pid ")
        env_out = _ddbt("local", "env", cwd=elsewhere, env={**env, **exports})
        assert f"export AWS_ENDPOINT_URL={exports['AWS_ENDPOINT_URL']}" in env_out
        assert "export AWS_REGION=" in env_out and "export DDBT_STATE_DIR=" in env_out
    finally:
        down = _ddbt("local", "down", "--state-dir", "build/local", cwd=here, env=env)
    assert "stopped endpoint" in down
    again = _ddbt("local", "down", "--state-dir", "build/local", cwd=here, env=env)
    assert again.startswith("nothing to stop: no local cloud is running")
    status = _ddbt("local", "status", cwd=elsewhere, env=env)
    assert status.startswith("no local cloud is running") and "DDBT_STATE_DIR" in status


def test_make_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-s", "down", f"LOCAL_STATE={tmp_path / 'state'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to stop: no local cloud is running" in result.stdout


def test_the_local_cloud_runs_a_cache_server_for_the_cache_processor(tmp_path: Path) -> None:
    import redis

    env = {k: v for k, v in os.environ.items() if k != "DDBT_STATE_DIR"}
    state = tmp_path / "state"
    up = _ddbt("local", "up", "--no-pollers", "--state-dir", str(state), cwd=tmp_path, env=env)
    try:
        block = up[up.index("export ") :]
        exports = dict(pair.split("=", 1) for pair in shlex.split(block.replace("\\\n", " "))[1:])
        host, port = exports["TF_VAR_cache_endpoint"].rsplit(":", 1)
        assert host == "127.0.0.1" and exports["TF_VAR_cache_tls"] == "false"
        client = redis.Redis(host=host, port=int(port))
        assert client.ping()
        client.close()
        status = _ddbt("local", "status", "--state-dir", str(state), cwd=tmp_path, env=env)
        assert f"cache    {host}:{port} (pid " in status
    finally:
        down = _ddbt("local", "down", "--state-dir", str(state), cwd=tmp_path, env=env)
    assert "stopped cache server" in down
    assert not (state / "cache.pid").exists()
