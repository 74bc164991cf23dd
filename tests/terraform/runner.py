"""Running the Terraform CLI from the tests: one helper for the apply and the module-usage
tests (the repository's wrapper, or plain `terraform` as a user runs it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["ok", "run"]


def run(
    binary: str, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``binary args -no-color`` in ``cwd`` (15 minutes at most), output captured."""
    return subprocess.run(
        [binary, *args, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout; a failure shows the command and its output."""
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-6000:]}\n{result.stderr}"
    return result.stdout
