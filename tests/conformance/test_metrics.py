"""The module's alarms against the metrics corpus (cases/metrics): every alarm reads a metric AWS
documents, with its documented dimensions and statistic, and treats a period without data the
way the metric's documented emission demands (``terraform test`` of tf/metrics.tftest.hcl
over the planned alarms, mock provider, no cloud)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.corpus import cases

ROOT = Path(__file__).resolve().parents[2]


def documented_metrics() -> dict[str, dict[str, Any]]:
    """``"<namespace> <metric>"`` => its dimension sets (each sorted and joined by commas),
    statistics and the treat_missing_data its emission demands."""
    out = {}
    for case in cases("metrics"):
        key = f"{case['namespace']} {case['metric']}"
        assert key not in out, f"{case.name}: {key} is documented twice"
        out[key] = {
            "dimensions": [",".join(sorted(d)) for d in case["dimensions"]],
            "statistics": case["statistics"],
            "treat_missing_data": case["expect"]["treat_missing_data"],
        }
    return out


def test_every_case_says_how_to_read_missing_data() -> None:
    for case in cases("metrics"):
        assert case["expect"]["treat_missing_data"] in ("breaching", "notBreaching"), case.name
        assert case["namespace"].startswith("AWS/") and case["dimensions"], case.name


def test_the_stall_alarm_reads_polls_that_aws_emits_even_when_empty() -> None:
    (polled,) = cases("metrics", metric="PolledEventCount")
    assert polled["expect"]["treat_missing_data"] == "breaching"
    assert any("empty poll" in fact for fact in polled.facts)


def test_planned_alarms_follow_the_documented_metrics(tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    if not (ROOT / ".terraform").is_dir():
        pytest.skip("the root module is not initialised (make tf-init)")
    var_file = tmp_path / "documented.json"
    var_file.write_text(json.dumps({"documented_metrics": documented_metrics()}))
    result = subprocess.run(
        [
            str(ROOT / "scripts" / "tf-test.sh"),  # terraform test, one shared provider
            "-test-directory=tests/conformance/tf",
            f"-var-file={var_file}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
