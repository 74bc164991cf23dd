"""Build a reproducible zip of a Python package (the Lambda deployment artifact).

Only ``*.py`` files of the package are included, in sorted order, with a fixed timestamp,
fixed permissions and a fixed compression level, so that the same source always yields the
same bytes (and Terraform's ``source_code_hash`` changes only when code does).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def build(package_dir: Path, out: Path) -> None:
    root = package_dir.resolve().parent
    files = sorted(p for p in package_dir.resolve().rglob("*.py") if "__pycache__" not in p.parts)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: package.py <package-dir> <out.zip>")
    build(Path(sys.argv[1]), Path(sys.argv[2]))
