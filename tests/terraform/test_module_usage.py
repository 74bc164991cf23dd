"""The module as a user takes it into a stack of their own: the README's snippet, from the
release tag of a git repository, in a folder of its own; plain `terraform` set up with the one
line `scripts/tf-cli-config.sh --export` prints; one message for a pattern that is not JSON;
the tables deletion protection covers, named in its description.

These run the real Terraform CLI (not scripts/terraform.sh) and plan against a moto server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.terraform.cli import run, succeeded

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = _script("release")  # the version, the changelog, the snippets, `make tag`

# One worker: the tests share the module-scoped release repository.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform"),
    pytest.mark.xdist_group("terraform-module-usage"),
]


def _terraform_env(**extra: str) -> dict[str, str]:
    """A user's shell after `eval "$(scripts/tf-cli-config.sh --export)"`: no TF_ or AWS_
    settings of the test run, the mirror when there is one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TF_", "AWS_")) or k == "TF_PLUGIN_MIRROR"
    }
    line = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tf-cli-config.sh"), "--export"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if line.startswith("export "):
        name, _, value = shlex.split(line)[1].partition("=")
        env[name] = value
    env.update({"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **extra})
    return env


def _terraform(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run("terraform", cwd, env, *args)  # plain terraform, as in a user's shell


@pytest.fixture(scope="module")
def release_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This working tree (what git would commit) as a repository, tagged by `make tag`'s code."""
    repo = tmp_path_factory.mktemp("dynamodb-triggers")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for name in listed.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    identity = {
        "GIT_AUTHOR_NAME": "release test",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "release test",
        "GIT_COMMITTER_EMAIL": "release@example.com",
    }
    saved = {k: os.environ.get(k) for k in identity}
    os.environ.update(identity)
    try:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
        assert release.tag(repo) == f"v{release.version(repo)}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield repo


def test_the_release_agrees_with_the_version() -> None:
    assert release.problems(ROOT) == []
    assert release.changelog_release(ROOT) is not None


def test_a_disagreeing_snippet_or_changelog_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "1.2.3"\n')
    (tmp_path / "CHANGELOG.md").write_text("## [Unreleased]\n\n## [1.2.2] - 2026-01-01\n")
    snippet = 'module "m" {\n  source = "git::https://example.com/x.git?ref=v1.2.2"\n}\n'
    (tmp_path / "README.md").write_text(f"```hcl\n{snippet}```\n")
    found = release.problems(tmp_path)
    assert len(found) == 2 and "1.2.2" in found[0] and "ref=v1.2.2" in found[1]


def test_the_readme_snippet_plans_from_the_release_tag(
    release_repo: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    found = release.snippets(ROOT)
    assert any(page.name == "README.md" for page, _ in found)
    env = _terraform_env(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    for n, (page, block) in enumerate(found):
        url, ref = release.git_source(block)
        assert ref == f"v{release.version(ROOT)}", page
        stack = tmp_path / f"stack-{n}"  # a folder of the user's own, outside the repository
        stack.mkdir()
        (stack / "main.tf").write_text(block.replace(f"git::{url}", f"git::file://{release_repo}"))
        succeeded(_terraform(stack, env, "init"))
        plan = succeeded(_terraform(stack, env, "plan"))
        assert re.search(r"Plan: \d+ to add, 0 to change, 0 to destroy", plan), plan[-2000:]
        assert "module.applications_triggers.aws_dynamodb_table.this[0]" in plan


def test_plain_terraform_init_works_in_any_folder_after_the_export_line(tmp_path: Path) -> None:
    line = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tf-cli-config.sh"), "--export", str(tmp_path / "rc")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if not line.startswith("export "):
        pytest.skip("no local provider mirror here: terraform uses the public registry")
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run(
        ["bash", "-c", f"{line}\nterraform init -input=false -no-color"],
        cwd=tmp_path / "stack",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Installed hashicorp/aws" in result.stdout


def test_a_pattern_that_is_not_json_gets_one_message(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'module "triggers" {\n'
        f'  source          = "{ROOT}"\n'
        '  name            = "orders"\n'
        '  table_hash_key  = "pk"\n'
        '  filter_patterns = ["{\\"eventName\\": [\\"MODIFY\\"]"]\n'
        "}\n"
    )
    env = _terraform_env()
    succeeded(_terraform(tmp_path, env, "init", "-backend=false"))
    result = _terraform(tmp_path, env, "validate")
    assert result.returncode != 0
    assert result.stderr.count("Invalid value for variable") == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert "each pattern must be a valid JSON object" in message
    assert "top-level keys" not in message


def test_deletion_protection_names_every_table_it_covers() -> None:
    """Every table resource that takes the input is named in its description."""
    roles = {
        "this": "the source table",
        "checkpoint": "the checkpoint table",
        "aggregates": "the aggregates table",
        "view": "the view table",
    }
    module = "".join(p.read_text() for p in ROOT.glob("*.tf"))
    protected = {
        name
        for name, body in re.findall(
            r'^resource "aws_dynamodb_table" "(\w+)" \{\n(.*?)^\}', module, re.M | re.S
        )
        if "var.deletion_protection_enabled" in body
    }
    assert protected == set(roles)
    variables = (ROOT / "variables.tf").read_text()
    match = re.search(
        r'variable "deletion_protection_enabled" \{\n  description = "([^"]*)"', variables
    )
    assert match is not None
    for role in roles.values():
        assert role in match.group(1), role
    assert "to destroy, set it to false and apply, then destroy" in match.group(1)


@pytest.mark.parametrize(
    "example", sorted(p.parent.name for p in (ROOT / "examples").glob("*/main.tf"))
)
def test_every_example_has_a_readme_naming_its_inputs_and_outputs(example: str) -> None:
    folder = ROOT / "examples" / example
    readme = (folder / "README.md").read_text()
    assert readme.startswith("# ") and "## Usage" in readme and "terraform init" in readme
    for kind, file in (("variable", "variables.tf"), ("output", "outputs.tf")):
        names = re.findall(rf'^{kind} "(\w+)"', (folder / file).read_text(), re.M)
        missing = [n for n in names if f"`{n}`" not in readme]
        assert names and not missing, f"examples/{example}/README.md lacks {kind}s {missing}"
