"""A real PostgreSQL server run by the project itself.

The binaries come from the ``pgserver`` wheel (PostgreSQL 16), so ``pip install`` is
all a fresh machine needs; ``bin_dir`` can point at any other installation (the tests
also run Debian's PostgreSQL 15 this way). The server listens on 127.0.0.1 only, on
a free port (kept across restarts when ``port_file`` records it and it is still free),
with ``trust`` authentication: it is a development and test database,
never a production one.

PostgreSQL refuses to run as root, so under root the server runs as the system user
``pgserver`` (created on first use, as the pgserver wheel itself does).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from collab_sdk.errors import require_extra

__all__ = ["EmbeddedPostgres", "default_bin_dir"]

_RUN_AS = "pgserver"


def _require_pgserver() -> None:
    require_extra("the embedded PostgreSQL", "embedded", "pgserver")


def default_bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped in the ``pgserver`` wheel (the
    ``embedded`` extra: without it, ``MissingExtra`` naming the ``pip install``)."""
    _require_pgserver()
    with warnings.catch_warnings():  # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` — bound the way PostgreSQL binds it (with
    ``SO_REUSEADDR``, so the stopped server's closing connections do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    _require_pgserver()
    from pgserver.utils import ensure_user_exists

    return ensure_user_exists(_RUN_AS)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, started and stopped on demand.

    ``settings`` are passed to the server as ``-c name=value`` (the tests turn
    fsync off; the default keeps PostgreSQL's durable defaults). With a ``port_file`` the
    port is recorded there at each start and reused by the next one while it is free, so
    the URL — and every client and worker holding it — survives a stop and start.
    """

    data_dir: Path
    bin_dir: Path = field(default_factory=default_bin_dir)
    settings: dict[str, str] = field(default_factory=dict)
    port_file: Path | None = None
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.bin_dir = Path(self.bin_dir)
        self._user = _system_user()

    # -- lifecycle -------------------------------------------------------------
    def start(self, port: int | None = None) -> str:
        """Initialise the cluster if needed, start it unless running (on ``port``, default
        a free one); return its URL."""
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self.port() is None:
            self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"),
                         "-o", self._server_options(port or self.recorded_port() or _free_port()))
            if self.port_file is not None:
                self.port_file.write_text(f"{self.port()}\n")
        return self.url()

    def recorded_port(self) -> int | None:
        """The port ``port_file`` records, if that port is free now (else None)."""
        try:
            recorded = int(self.port_file.read_text().strip()) if self.port_file is not None else 0
        except (OSError, ValueError):
            return None
        return recorded if 0 < recorded < 65536 and _is_free(recorded) else None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``, ``smart`` or ``immediate``) if it is running."""
        if self.port() is not None:
            self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self, mode: str = "fast") -> str:
        """Restart on the same port (``immediate`` simulates a crash)."""
        port = self.port()
        self._pg_ctl("restart", "-w", "-t", "60", "-m", mode, "-l", str(self.data_dir / "server.log"),
                     "-o", self._server_options(port or _free_port()))
        return self.url()

    def destroy(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- addresses -------------------------------------------------------------
    def port(self) -> int | None:
        """The port of the running server, or None when it is not running."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0])
            os.kill(pid, 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` as the superuser ``postgres``."""
        port = self.port()
        if port is None:
            raise RuntimeError(f"PostgreSQL in {self.data_dir} is not running")
        return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"

    def version(self) -> str:
        """``major`` version of the cluster's binaries, e.g. ``"16"``."""
        out = subprocess.run([str(self.bin_dir / "postgres"), "--version"], check=True,
                             capture_output=True, text=True).stdout
        return out.split()[-1].split(".")[0]

    # -- internals -------------------------------------------------------------
    def _server_options(self, port: int) -> str:
        opts = ["-p", str(port), "-h", "127.0.0.1", "-c", "unix_socket_directories=''"]
        for name, value in self.settings.items():
            opts += ["-c", f"{name}={value}"]
        return " ".join(opts)

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self.data_dir.chmod(0o700)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args)

    def _run(self, *argv: str) -> None:
        user = self._user.pw_name if self._user is not None else None
        # Output goes to a file, not a pipe: the postmaster that pg_ctl forks would
        # inherit the pipe and keep it open, and reading it would never end.
        with tempfile.TemporaryFile("w+") as out:
            code = subprocess.run(argv, user=user, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd="/").returncode
            out.seek(0)
            output = out.read()
        if code != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n{output}\n{tail}")
