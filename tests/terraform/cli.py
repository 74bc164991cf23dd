"""The real Terraform CLI (through scripts/terraform.sh, which finds the provider mirror) run
against a local AWS endpoint with fake credentials, for the tests that plan or apply."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["REGION", "ROOT", "run", "succeeded", "terraform", "terraform_env"]

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def terraform_env(endpoint: str, data_dir: Path) -> dict[str, str]:
    """This process's environment without AWS or Terraform settings of its own, pointed at
    ``endpoint``; ``data_dir`` holds the working directory's .terraform."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.startswith("TF_VAR_") and k != "TF_DATA_DIR"
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_DATA_DIR": str(data_dir),  # keeps the configuration's own .terraform untouched
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    return env


def run(
    binary: str, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``binary args -no-color`` in ``cwd`` (15 minutes at most), output captured: the
    repository's wrapper, or plain ``terraform`` as a user runs it."""
    return subprocess.run(
        [binary, *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def terraform(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Terraform through scripts/terraform.sh (which finds a provider mirror)."""
    return run(str(ROOT / "scripts" / "terraform.sh"), cwd, env, *args)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The command's output; fails the test with its output when it did not succeed."""
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-6000:]}\n{result.stderr}"
    return result.stdout
