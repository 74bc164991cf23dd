"""scripts/tf-cli-config.sh: a mirror from TF_PLUGIN_MIRROR or discovery, nothing without one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tf-cli-config.sh"


def _run(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_MIRROR"}
    full.update(env)
    return subprocess.run(
        ["bash", str(SCRIPT), str(out)], capture_output=True, text=True, env=full, check=False
    )


def test_explicit_mirror_is_written(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    out = tmp_path / "build" / "terraformrc"
    result = _run(out, TF_PLUGIN_MIRROR=str(mirror))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    text = out.read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/*"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/*"]' in text


def test_missing_explicit_mirror_is_an_error(tmp_path: Path) -> None:
    result = _run(tmp_path / "terraformrc", TF_PLUGIN_MIRROR=str(tmp_path / "nope"))
    assert result.returncode != 0
    assert "TF_PLUGIN_MIRROR" in result.stderr


def test_none_disables_discovery(tmp_path: Path) -> None:
    out = tmp_path / "terraformrc"
    result = _run(out, TF_PLUGIN_MIRROR="none")
    assert result.returncode == 0 and result.stdout == "" and not out.exists()


def test_discovery_takes_the_first_directory_holding_the_aws_provider(tmp_path: Path) -> None:
    empty, first, second = tmp_path / "empty", tmp_path / "first", tmp_path / "second"
    empty.mkdir()
    for mirror in (first, second):
        (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    out = tmp_path / "terraformrc"
    result = _run(out, TF_PLUGIN_MIRROR_SEARCH=f"{tmp_path / 'missing'}:{empty}:{first}:{second}")
    assert result.returncode == 0, result.stderr
    assert f'path    = "{first}"' in out.read_text()


def test_no_mirror_found_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "terraformrc"
    result = _run(out, TF_PLUGIN_MIRROR_SEARCH=str(tmp_path / "missing"))
    assert result.returncode == 0 and result.stdout == "" and not out.exists()


def _export(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_MIRROR"}
    full.update(env)
    return subprocess.run(
        ["bash", str(SCRIPT), "--export", str(out)],
        capture_output=True,
        text=True,
        env=full,
        check=False,
    )


def test_export_prints_the_line_that_points_terraform_at_the_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / "my mirror"  # a space: the line must stay one shell word
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    out = tmp_path / "rc" / "terraformrc"
    result = _export(out, TF_PLUGIN_MIRROR=str(mirror))
    assert result.returncode == 0, result.stderr
    exported = subprocess.run(
        ["bash", "-c", f'{result.stdout}\nprintf %s "$TF_CLI_CONFIG_FILE"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == str(out) and f'path    = "{mirror}"' in out.read_text()


def test_export_without_a_mirror_changes_nothing(tmp_path: Path) -> None:
    result = _export(tmp_path / "terraformrc", TF_PLUGIN_MIRROR="none")
    assert result.returncode == 0 and result.stdout.startswith("# no local provider mirror")
    assert not (tmp_path / "terraformrc").exists()
