"""Build a reproducible zip of a Python package (the Lambda deployment artifact).

The package's ``*.py`` files, plus the pure-Python libraries pinned in
``requirements-handlers.txt`` (beside ``package-dir``'s parent: the repository root), taken
from their wheels: each wheel is downloaded once into ``build/wheels`` and checked against its
pinned sha256 before use, and only its ``*.py`` files and license files are packaged. Entries
are in sorted order, with a fixed timestamp, fixed permissions and a fixed compression level,
so that the same source and pins always yield the same bytes (and Terraform's
``source_code_hash`` changes only when code does).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PINS = "requirements-handlers.txt"
_PIN = re.compile(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)\s+--hash=sha256:([0-9a-f]{64})\Z")


def pins(root: Path) -> list[tuple[str, str, str]]:
    """(name, version, sha256) of every pinned library; [] when there is no pin file."""
    path = root / PINS
    if not path.exists():
        return []
    found = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.fullmatch(line)
        if match is None:
            sys.exit(f"{PINS}: expected 'name==version --hash=sha256:<64 hex>', got {line!r}")
        found.append((match[1], match[2], match[3]))
    return found


def wheel(root: Path, name: str, version: str, digest: str) -> Path:
    """The pinned wheel, downloaded into build/wheels when absent; its sha256 checked."""
    wheels = root / "build" / "wheels"
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(wheels),
                f"{name}=={version}",
            ],
            check=True,
        )
        found = sorted(p for p in wheels.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    for path in found:
        if hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return path
    sys.exit(f"no wheel of {name}=={version} in {wheels} has the pinned sha256 {digest}")


def _vendored(path: Path) -> dict[str, bytes]:
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            top = name.split("/", 1)[0]
            license_file = top.endswith(".dist-info") and "/licenses/" in name
            if license_file or (not top.endswith(".dist-info") and name.endswith(".py")):
                out[name] = zf.read(name)
    return out


def build(package_dir: Path, out: Path) -> None:
    root = package_dir.resolve().parent
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in package_dir.resolve().rglob("*.py")
        if "__pycache__" not in p.parts
    }
    for name, version, digest in pins(Path(__file__).resolve().parent.parent):
        files.update(
            _vendored(wheel(Path(__file__).resolve().parent.parent, name, version, digest))
        )
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            zf.writestr(info, files[name], compresslevel=9)
    tmp.replace(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: package.py <package-dir> <out.zip>")
    build(Path(sys.argv[1]), Path(sys.argv[2]))
