"""Upgrading from the previous version of the module destroys and re-creates nothing.

The previous version (PREVIOUS, from this repository's history) is applied against moto with
the stack of tests/terraform/upgrade, then the module's files are replaced by this version's in
the same folder (so that only the module changes, not its path) and the stack is planned: no
resource may be deleted or replaced. A configuration of the previous version is not edited
for the upgrade, so the stack keeps the deprecated input names; the plan warns about them.

What the provider takes long to create on moto (it waits for SQS attributes and S3 lifecycle
rules to settle, about a minute in all) is planned only (plan_only: the buckets, the
dead-letter queue, the DLQ archiver): each address planned with the previous version must be
planned with this one.

Skipped when terraform or git is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.terraform.cli import ROOT, succeeded, terraform, terraform_env

# The module before it was split by part and its switches renamed (issue 15). At the next
# release, the tag of the release before it.
PREVIOUS = "b606ed285e6c4c8c8a089885e58e40671a4d6055"
STACK = Path(__file__).resolve().parent / "upgrade" / "main.tf"
# Plan actions that keep what exists (terraform plan -json: the others are delete, replace,
# remove and forget).
KEEPING = {"create", "update", "read", "noop", "move", "import"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("terraform") is None or shutil.which("git") is None,
        reason="terraform or git is not installed",
    ),
]


def _module_files(module: Path) -> list[Path]:
    return [*module.glob("*.tf"), module / "dist" / "handlers.zip"]


def _install_previous(module: Path) -> None:
    """The module's files (root *.tf, dist/handlers.zip) at PREVIOUS, into ``module``."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    assert found.returncode == 0, (
        f"commit {PREVIOUS} is not in this clone's history (a shallow clone? git fetch --unshallow)"
    )
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS, ":(glob)*.tf", "dist/handlers.zip"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(module, filter="data")


def _install_current(module: Path) -> None:
    """This working tree's module files in place of the previous ones."""
    for path in _module_files(module):
        path.unlink(missing_ok=True)
    for path in _module_files(ROOT):
        target = module / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _plan(stack: Path, env: dict[str, str], *args: str) -> tuple[dict[str, str], list[str]]:
    """The planned changes (resource address => action) and the warnings' details, from the
    plan's machine-readable output (terraform plan -json)."""
    out = succeeded(terraform(stack, env, "plan", "-input=false", "-json", *args))
    changes: dict[str, str] = {}
    warnings: list[str] = []
    for line in out.splitlines():
        message = json.loads(line)
        if message["type"] == "planned_change":
            changes[message["change"]["resource"]["addr"]] = message["change"]["action"]
        elif message["type"] == "diagnostic" and message["diagnostic"]["severity"] == "warning":
            warnings.append(message["diagnostic"].get("detail", ""))
    return changes, warnings


def test_upgrading_destroys_and_replaces_nothing(aws_env: str, tmp_path: Path) -> None:
    module, stack = tmp_path / "module", tmp_path / "stack"
    module.mkdir()
    stack.mkdir()
    _install_previous(module)
    (stack / "main.tf").write_text(STACK.read_text().replace('"../../.."', '"../module"'))
    env = terraform_env(aws_env, tmp_path / ".terraform")
    # The plan-only parts, planned without state.
    plan_only = ("-var=plan_only=true", f"-state={tmp_path / 'plan-only.tfstate'}")

    # GIVEN the stack applied with the previous version (and the plan-only parts planned)
    succeeded(terraform(stack, env, "init", "-input=false"))
    before, _ = _plan(stack, env, *plan_only)
    succeeded(terraform(stack, env, "apply", "-auto-approve", "-input=false"))
    applied = set(succeeded(terraform(stack, env, "state", "list")).split())
    # The parts whose switches were renamed are among them.
    assert {
        "module.triggers.aws_cloudwatch_event_bus.this[0]",
        "module.triggers.aws_dynamodb_table.view[0]",
        "module.triggers.aws_glue_catalog_database.etl[0]",
    } <= applied

    # WHEN the module is replaced by this version (same folder) and the stack is planned
    _install_current(module)
    changes, warnings = _plan(stack, env)

    # THEN nothing is deleted, replaced or forgotten: what changes is created or updated in place
    destructive = {a: action for a, action in changes.items() if action not in KEEPING}
    assert destructive == {}, f"the upgrade would destroy or re-create: {destructive}"
    # The deprecated names still work, with a warning naming the new ones.
    text = " ".join(" ".join(warnings).split())
    for old, new in (
        ("eventbus_create_bus", "create_eventbus_bus"),
        ("view_create_table", "create_view_table"),
        ("etl_glue_create_database", "create_etl_glue_database"),
    ):
        assert f"{old} (use {new})" in text, warnings

    # AND the plan-only parts keep their addresses
    after, _ = _plan(stack, env, *plan_only)
    assert {
        'module.separate[0].aws_s3_bucket.this["failures"]',
        "module.triggers.aws_lambda_function.archiver[0]",
    } <= set(before)
    # (a later version may add parts; none of these may go or change its address)
    assert sorted(set(before) - set(after)) == []
