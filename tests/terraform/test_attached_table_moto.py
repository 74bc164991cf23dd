"""Attaching to an existing table: the module reads it at plan time (data source
aws_dynamodb_table, by the table ARN of stream_arn) with the real Terraform CLI and AWS provider
against moto's DescribeTable, and fails the plan, with its own message, for a table without a
stream, a stream ARN that is not the table's current stream, and a KEYS_ONLY stream under the
view processor. A NEW_AND_OLD_IMAGES stream plans, and the plan records what was read.

Plans only: nothing is applied. Skipped when terraform is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import create_table, make_client
from tests.terraform.cli import succeeded, terraform, terraform_env

CONFIG = Path(__file__).resolve().parent / "attached_table"
OLD_LABEL = "2024-05-01T10:00:00.000"

# One worker: every test plans the one configuration (its lock file is written in CONFIG).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("terraform-attached-table"),
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed"),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configuration initialised once (providers only; init calls no AWS API)."""
    path = tmp_path_factory.mktemp("attached") / ".terraform"
    succeeded(terraform(CONFIG, terraform_env("http://127.0.0.1:9", path), "init", "-input=false"))
    return path


def _plan(
    endpoint: str, data_dir: Path, out: Path | None = None, **variables: str | bool
) -> subprocess.CompletedProcess[str]:
    args = [f"-var={k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in variables.items()]
    if out is not None:
        args.append(f"-out={out}")
    return terraform(CONFIG, terraform_env(endpoint, data_dir), "plan", "-input=false", *args)


def _table_arn(name: str) -> str:
    return str(make_client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"])


def _failed_with(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    assert result.returncode == 1, f"the plan should fail:\n{result.stdout[-4000:]}"
    # Terraform wraps long messages; compare with the line breaks taken out.
    text = " ".join(result.stderr.split())
    for part in parts:
        assert part in text, f"{part!r} not in:\n{result.stderr}"
    return text


def test_table_without_stream_fails_at_plan(aws_env: str, data_dir: Path) -> None:
    create_table("orders")
    stream_arn = f"{_table_arn('orders')}/stream/{OLD_LABEL}"
    text = _failed_with(
        _plan(aws_env, data_dir, stream_arn=stream_arn),
        'resource "terraform_data" "check_stream"',
        "The attached table orders has no stream enabled",
        "aws dynamodb update-table --table-name orders --stream-specification StreamEnabled=true",
    )
    assert "is not the current stream" not in text  # one problem, one message


def test_view_on_keys_only_stream_fails_at_plan(aws_env: str, data_dir: Path) -> None:
    stream_arn = create_table("orders", stream="KEYS_ONLY")
    _failed_with(
        _plan(aws_env, data_dir, stream_arn=stream_arn, create_view=True),
        "create_view projects the item after each change, which needs a NEW_IMAGE or "
        "NEW_AND_OLD_IMAGES stream, but the attached table's stream is KEYS_ONLY "
        "(read at plan time)",
    )


def test_stream_that_is_not_the_current_one_fails_at_plan(aws_env: str, data_dir: Path) -> None:
    current = create_table("orders", stream="NEW_AND_OLD_IMAGES")
    stale = f"{_table_arn('orders')}/stream/{OLD_LABEL}"
    assert current != stale
    _failed_with(
        _plan(aws_env, data_dir, stream_arn=stale),
        "stream_arn is not the current stream of table orders",
        f"its LatestStreamArn is {current}",
    )


def test_current_stream_plans_and_the_plan_holds_what_was_read(
    aws_env: str, data_dir: Path, tmp_path: Path
) -> None:
    stream_arn = create_table("orders", stream="NEW_AND_OLD_IMAGES")
    planfile = tmp_path / "plan"
    succeeded(_plan(aws_env, data_dir, planfile, stream_arn=stream_arn, create_view=True))
    env = terraform_env(aws_env, data_dir)
    shown = json.loads(succeeded(terraform(CONFIG, env, "show", "-json", str(planfile))))
    (read,) = [
        r
        for r in shown["prior_state"]["values"]["root_module"]["child_modules"][0]["resources"]
        if r["address"] == "module.triggers.data.aws_dynamodb_table.attached[0]"
    ]
    values = read["values"]
    assert values["name"] == "orders"  # the provider keeps DescribeTable's TableName
    assert values["arn"] == _table_arn("orders")
    assert values["stream_enabled"] is True
    assert values["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert values["stream_arn"] == stream_arn
    assert values["hash_key"] == "pk"


def test_stream_arn_known_only_after_apply_defers_the_read(aws_env: str, data_dir: Path) -> None:
    """create_table = false with an ARN that is unknown at plan: the read (and its checks) move
    to apply, before the functions; the plan itself succeeds."""
    create_table("orders")  # no stream: at plan time nothing can tell
    stream_arn = f"{_table_arn('orders')}/stream/{OLD_LABEL}"
    result = _plan(aws_env, data_dir, stream_arn=stream_arn, stream_arn_known_after_apply=True)
    assert result.returncode == 0, result.stderr
    assert "module.triggers.data.aws_dynamodb_table.attached[0] will be read during apply" in (
        result.stdout
    )
    assert "Warning" not in result.stdout + result.stderr  # no check left undecided


def test_deferred_read_still_stops_the_functions_at_apply(
    aws_env: str, data_dir: Path, tmp_path: Path
) -> None:
    """The same ARN known only after apply, on a table without a stream: apply reads the table
    before any function (the functions wait for check_stream), fails with the message, and
    leaves no function or mapping behind."""
    create_table("orders")
    stream_arn = f"{_table_arn('orders')}/stream/{OLD_LABEL}"
    result = terraform(
        CONFIG,
        terraform_env(aws_env, data_dir),
        "apply",
        "-auto-approve",
        "-input=false",
        f"-state={tmp_path / 'terraform.tfstate'}",
        f"-var=stream_arn={stream_arn}",
        "-var=stream_arn_known_after_apply=true",
    )
    _failed_with(result, "The attached table orders has no stream enabled")
    lambda_client = make_client("lambda")
    assert lambda_client.list_functions()["Functions"] == []
    assert lambda_client.list_event_source_mappings()["EventSourceMappings"] == []
