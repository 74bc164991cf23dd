"""A real Valkey/Redis server on 127.0.0.1 for the cache processor: found or installed, then
started on a free port and stopped by whoever started it (tests, ``make demo``, ``ddbt``).

    python -m ddbt.local.cacheserver install     # make test: installs a server when none is found

Where the server comes from, in order: ``valkey-server`` or ``redis-server`` on ``PATH``, then
one this module installed under ``build/cache-server``. Installing needs no root: Debian's
``redis-tools`` package holds the server binary (``redis-server`` is the same program as
``redis-check-rdb``, chosen by the name it is run as), and ``apt-get download`` plus
``dpkg -x`` unpack it with its libraries (``libjemalloc2``, ``liblzf1``) into that directory;
nothing is registered with the system and no service is started. Only when apt's package
lists are missing is ``apt-get update`` run (as root) first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["INSTALL_DIR", "CacheServer", "CacheServerError", "find", "install"]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_DIR = ROOT / "build" / "cache-server"
_PACKAGES = ("redis-tools", "libjemalloc2", "liblzf1")
_NAMES = ("valkey-server", "redis-server")


class CacheServerError(RuntimeError):
    """No server could be found, installed or started."""


def _installed() -> Path:
    return INSTALL_DIR / "usr" / "bin" / "redis-server"


def find() -> Path | None:
    """A server binary: on ``PATH``, else the one ``install`` unpacked (None when neither)."""
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    local = _installed()
    return local if local.exists() else None


def _libraries() -> str:
    return (
        str(INSTALL_DIR / "usr" / "lib" / "x86_64-linux-gnu")
        + os.pathsep
        + str(INSTALL_DIR / "usr" / "lib" / "aarch64-linux-gnu")
    )


def _environment(binary: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if binary == _installed():
        extra = _libraries()
        env["LD_LIBRARY_PATH"] = extra + (
            os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""
        )
    return env


def install() -> Path:
    """The server binary, unpacked from Debian's packages when none is found."""
    found = find()
    if found is not None:
        return found
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise CacheServerError(
            "no valkey-server or redis-server on PATH, and no apt-get/dpkg to unpack Debian's "
            "redis-tools: install a Valkey or Redis server (7.0 or later) and run again"
        )
    debs = INSTALL_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)

    def download() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", "download", *_PACKAGES],
            cwd=debs,
            capture_output=True,
            text=True,
            check=False,
        )

    done = download()
    if done.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        done = download()
    if done.returncode != 0:
        raise CacheServerError(
            f"apt-get download {' '.join(_PACKAGES)} failed: {done.stderr.strip()[-300:]}"
        )
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(INSTALL_DIR)], check=True)
    binary = _installed()
    real = binary.parent / "redis-check-rdb"
    if not real.exists():
        raise CacheServerError(f"{real} is not in Debian's redis-tools: cannot install")
    with contextlib.suppress(FileNotFoundError):
        binary.unlink()
    binary.symlink_to("redis-check-rdb")
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CacheServer:
    """One server process on 127.0.0.1. ``durable``: every write is in its append-only file
    before it is answered (``appendfsync always``), so a killed server restarts with all it
    acknowledged (the restart tests); else nothing is saved."""

    def __init__(
        self,
        *,
        durable: bool = False,
        binary: Path | None = None,
        directory: Path | None = None,
        detached: bool = False,
    ) -> None:
        self.binary = binary or find()
        if self.binary is None:
            raise CacheServerError(
                "no Valkey/Redis server found: run `python -m ddbt.local.cacheserver install` "
                "(make test does; make cache-server)"
            )
        self.durable = durable
        self.detached = detached  # its own session: outlives this process (ddbt local up)
        self.port = 0
        self._owned = directory is None
        self._dir = directory or Path(tempfile.mkdtemp(prefix="ddbt-cache-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return 0 if self._process is None else self._process.pid

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, port: int = 0) -> CacheServer:
        """Start on ``port`` (0: a free one; a few tries when another process takes it)."""
        last = ""
        for _ in range(5):
            chosen = port or _free_port()
            args = [
                str(self.binary),
                "--bind",
                "127.0.0.1",
                "--port",
                str(chosen),
                "--dir",
                str(self._dir),
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ]
            if self.durable:
                args += ["--appendonly", "yes", "--appendfsync", "always"]
            else:
                args += ["--appendonly", "no"]
            log = (self._dir / "server.log").open("ab")
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_environment(self.binary),
                start_new_session=self.detached,
            )
            log.close()
            if self._ready(process, chosen):
                self._process, self.port = process, chosen
                return self
            process.kill()
            process.wait()
            last = (self._dir / "server.log").read_text(errors="replace")[-400:]
            if port:
                break
        raise CacheServerError(f"the cache server did not start: {last}")

    def _ready(self, process: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would; the port is kept for ``restart``."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        """Start again on the same port (after ``kill``)."""
        self.kill()
        self.start(port=self.port)

    def stop(self) -> None:
        """Stop the process and remove its files."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._owned:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> CacheServer:
        return self.start() if self._process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["install"]:
        print("usage: python -m ddbt.local.cacheserver install", file=sys.stderr)
        return 2
    try:
        print(f"cache server: {install()}")
    except (CacheServerError, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
