"""A real pgbouncer in front of one test database (``pgbouncer(db_url, **settings)``):
transaction mode, trust auth, on a free port; its settings overridable per test
(``default_pool_size``, ``query_wait_timeout``, ``max_client_conn`` …). Skips the test
when pgbouncer is not installed (``./dev test`` installs Debian's where apt can)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from support.processes import free_port

__all__ = ["PGBOUNCER", "pgbouncer"]

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
_DEFAULTS = {"pool_mode": "transaction", "default_pool_size": 4, "max_client_conn": 100}


@contextmanager
def pgbouncer(db_url: str, **settings: object) -> Iterator[str]:
    """A URL of ``db_url``'s database through a pgbouncer of its own, stopped after."""
    if not Path(PGBOUNCER).exists():
        pytest.skip("pgbouncer is not installed (./dev test installs Debian's where apt can)")
    info = conninfo_to_dict(db_url)
    work = Path(tempfile.mkdtemp(prefix="collab-pgbouncer-"))
    work.chmod(0o777)  # pgbouncer drops root for "nobody", who must read its files
    port = free_port()
    (work / "userlist.txt").write_text(f'"{info["user"]}" ""\n')
    knobs = "\n".join(f"{name} = {value}" for name, value in {**_DEFAULTS, **settings}.items())
    (work / "pgbouncer.ini").write_text(f"""[databases]
{info["dbname"]} = host={info.get("host") or "127.0.0.1"} port={info["port"]} dbname={info["dbname"]} user={info["user"]}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work}/userlist.txt
{knobs}
ignore_startup_parameters = extra_float_digits,options
logfile = {work}/pgbouncer.log
""")
    for file in work.iterdir():
        file.chmod(0o644)
    proc = subprocess.Popen([PGBOUNCER, "-u", "nobody", str(work / "pgbouncer.ini")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (work / "pgbouncer.log").read_text()
            time.sleep(0.05)
    try:
        yield make_conninfo(db_url, host="127.0.0.1", port=str(port))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
