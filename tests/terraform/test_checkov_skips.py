"""scripts/checkov_skips.py: an inline checkov skip needs a written reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "checkov_skips.py"


def _run(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(directory)], capture_output=True, text=True, check=False
    )


def _module(tmp_path: Path, comment: str) -> Path:
    (tmp_path / "main.tf").write_text(
        f'resource "aws_s3_bucket" "this" {{\n  {comment}\n  bucket = "b"\n}}\n'
    )
    return tmp_path


def test_skip_with_reason_passes(tmp_path: Path) -> None:
    reason = "#checkov:skip=CKV_AWS_18:Access logging needs a log bucket owned by the caller."
    assert _run(_module(tmp_path, reason)).returncode == 0


def test_skip_without_reason_fails(tmp_path: Path) -> None:
    result = _run(_module(tmp_path, "#checkov:skip=CKV_AWS_18"))
    assert result.returncode == 1
    assert "CKV_AWS_18 has no written reason" in result.stderr


def test_skip_with_a_token_reason_fails(tmp_path: Path) -> None:
    assert _run(_module(tmp_path, "#checkov:skip=CKV_AWS_18:n/a")).returncode == 1


def test_the_repository_skips_all_have_reasons() -> None:
    result = _run(ROOT)
    assert result.returncode == 0, result.stderr
