"""The Lambda artifact: ``scripts/package.py`` zips ``handlers/`` reproducibly.

Same source, same bytes (whatever the files' timestamps and modes), only ``handlers/*.py``
(under 128 KB) and the ``*.py`` and license files of the libraries pinned in
``requirements-handlers.txt`` (redis-py, for the cache processor), importable straight from the
zip with every entry point, and the committed ``dist/handlers.zip`` (the Terraform module's
default code) equal to a fresh build.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from handlers import registry

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"
SOURCE = ROOT / "handlers"
# Every Lambda entry point: the registry's processors, the pipeline, and the DLQ archiver.
ENTRY_POINTS = (*registry.ENTRY_POINTS, "archiver")
VENDORED_LIMIT = 800 * 1024
LIMIT = 128 * 1024  # compressed; seven processors and their shared modules took 106 KB


def build(package_dir: Path, out: Path) -> Path:
    """Run the packaging script as ``make package`` does, with this (the venv's) Python."""
    subprocess.run(
        [sys.executable, str(SCRIPT), str(package_dir), str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_files() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix() for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(SOURCE, tmp_path_factory.mktemp("build") / "handlers.zip")


def test_two_builds_are_byte_identical(artifact: Path, tmp_path: Path) -> None:
    again = build(SOURCE, tmp_path / "again.zip")
    assert sha256(again) == sha256(artifact)


def test_timestamps_modes_and_location_do_not_matter(artifact: Path, tmp_path: Path) -> None:
    # GIVEN a copy of the source with other mtimes, other permissions and stray bytecode
    copy = tmp_path / "elsewhere" / "handlers"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for i, path in enumerate(sorted(copy.glob("*.py"))):
        os.utime(path, (2_000_000_000 + i, 2_000_000_000 + i))
        path.chmod(0o600 if i % 2 else 0o755)
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "stream.cpython-311.pyc").write_bytes(b"\x00" * 64)
    # WHEN it is packaged THEN the bytes are the same as from the checkout
    assert sha256(build(copy, tmp_path / "copy.zip")) == sha256(artifact)


def test_only_the_package_sources(artifact: Path) -> None:
    with zipfile.ZipFile(artifact) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        ours = [n for n in names if n.startswith("handlers/")]
        for name in ours:
            assert re.fullmatch(r"handlers/[A-Za-z_][A-Za-z0-9_]*\.py", name), name
        assert ours == source_files()  # every module, nothing else (no tests, no bytecode)
        for name in set(names) - set(ours):  # vendored: sources and licenses only
            assert name.startswith(("redis/", "redis-8.1.0.dist-info/licenses/")), name
            assert name.endswith(".py") or "/licenses/" in name, name
        assert "redis/__init__.py" in names
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            if info.filename.startswith("handlers/"):
                assert zf.read(info) == (ROOT / info.filename).read_bytes()
        assert zf.testzip() is None


def test_our_code_is_under_128_kb_and_the_client_library_under_its_budget(artifact: Path) -> None:
    with zipfile.ZipFile(artifact) as zf:
        ours = sum(i.compress_size for i in zf.infolist() if i.filename.startswith("handlers/"))
        vendored = sum(i.compress_size for i in zf.infolist()) - ours
    assert ours < LIMIT, f"handlers/ takes {ours} bytes of the zip, over {LIMIT}"
    assert vendored < VENDORED_LIMIT, f"vendored libraries take {vendored} bytes"


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_modules_are_packaged(artifact: Path, name: str) -> None:
    with zipfile.ZipFile(artifact) as zf:
        assert f"handlers/{name}.py" in zf.namelist()


def test_entry_points_import_from_the_zip(artifact: Path, tmp_path: Path) -> None:
    # a fresh interpreter with only the zip (and boto3, as on Lambda) to import from
    code = (
        "import sys, importlib\n"
        f"sys.path.insert(0, {str(artifact)!r})\n"
        "import handlers\n"
        f"assert handlers.__file__.startswith({str(artifact)!r}), handlers.__file__\n"
        f"for name in {ENTRY_POINTS!r}:\n"
        "    module = importlib.import_module('handlers.' + name)\n"
        "    assert module.__file__.startswith(sys.path[0]), module.__file__\n"
        "    assert callable(module.handler), name\n"
        "import redis\n"  # the cache's client library, vendored
        "assert redis.__file__.startswith(sys.path[0]), redis.__file__\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _committed(path: str) -> bool:
    try:
        result = subprocess.run(
            ["git", "ls-files", "--error-unmatch", path],
            cwd=ROOT,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def test_committed_dist_zip_is_current(artifact: Path) -> None:
    dist = ROOT / "dist" / "handlers.zip"
    if not _committed("dist/handlers.zip"):
        pytest.skip("dist/handlers.zip is not committed")
    assert dist.exists(), "dist/handlers.zip is committed but missing: run `make dist`"
    assert sha256(dist) == sha256(artifact), (
        "dist/handlers.zip does not match the current handlers/ source: run `make dist` "
        "and commit dist/handlers.zip"
    )
