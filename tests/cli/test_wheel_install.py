"""collab installed from its wheel, outside the repository: the packages import, the SQL
ships inside the wheel, and the embedded database lives under ``COLLAB_HOME`` (or the
working directory), never inside site-packages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from support import REPO


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 180) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


#: The packages the optional extras bring (``embedded``, ``http``), left out of the
#: dependencies of the venv that has none of them.
EXTRAS_ONLY = ("pgserver", "starlette", "uvicorn", "functions_framework", "swagger_ui")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collab-sdk's wheel, built from the repository."""
    root = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(root), str(REPO)], cwd=root)
    return next(root.glob("collab_sdk-*.whl"))


def _venv(root: Path, wheel: Path, deps: str) -> Path:
    """A fresh venv at ``root`` holding ``wheel`` (no editable install), whose
    dependencies come from the directory ``deps``; its bin directory."""
    venv.create(root, with_pip=False)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(deps + "\n")
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
          str(wheel)], cwd=root)
    return root / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv with the wheel and, as its dependencies, the test venv's site-packages (as
    a plain path: its .pth files, the editable install among them, are not processed from
    there); its bin directory. (``pip --target`` writes no console scripts, so the tests
    run ``python -m collab_sdk.cli``.)"""
    return _venv(tmp_path_factory.mktemp("wheel") / "venv", wheel, sysconfig.get_paths()["purelib"])


@pytest.fixture(scope="module")
def installed_without_extras(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """Like ``installed``, but its dependencies are the test venv's minus the packages of
    the ``embedded`` and ``http`` extras: ``pip install collab-sdk``."""
    root = tmp_path_factory.mktemp("bare")
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().replace("-", "_").startswith(EXTRAS_ONLY):
            (deps / entry.name).symlink_to(entry)
    return _venv(root / "venv", wheel, str(deps))


@pytest.mark.slow
def test_the_wheel_imports_from_site_packages(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "python"), "-c",
                "import collab_sdk, collab_sdk.worker, collab_sdk.http, collab_sdk.local.paths as p;"
                "print(collab_sdk.__file__); print(p.migrations_dir())"], cwd=tmp_path).stdout
    package, migrations = out.split()
    assert str(REPO) not in package and "site-packages" in package
    assert migrations.startswith(str(Path(package).parent)) and Path(migrations, "..").is_dir()
    assert any(Path(migrations).glob("*_collab_tables.sql"))


@pytest.mark.slow
def test_collab_db_url_keeps_its_data_in_collab_home_or_the_working_directory(
        installed: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "COLLAB_HOME": str(home)}
    env.pop("COLLAB_DATABASE_URL", None)
    try:
        url = _run([str(installed / "python"), "-m", "collab_sdk.cli", "db", "url"], cwd=tmp_path, env=env).stdout.strip()
        assert url.startswith("postgresql://")
        assert (home / "pgdata" / "PG_VERSION").is_file()
    finally:
        subprocess.run([str(installed / "python"), "-m", "collab_sdk.cli", "db", "stop"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=60)
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    assert not list(site.rglob(".collab")), "the embedded home landed in site-packages"
    env.pop("COLLAB_HOME")
    work = tmp_path / "work"
    work.mkdir()
    from collab_sdk.local.home import collab_home
    assert _run([str(installed / "python"), "-c",
                 "from collab_sdk.local.home import collab_home; print(collab_home())"],
                cwd=work, env=env).stdout.strip() == str(work / ".collab")
    assert collab_home({"COLLAB_HOME": str(home)}) == home


WORKER_RUN = """
import asyncio, json, sys
from collab_sdk import AsyncCollabClient
from collab_sdk.worker.loop import Worker

async def main(url):
    client = AsyncCollabClient.from_url(url)
    job = await client.assign("wheel.echo", executor_id="wheel", payload={"n": 1})
    worker = Worker(client, executor_id="wheel", poll_interval=0.1, heartbeat_interval=0.5)

    @worker.task("wheel.echo")
    async def echo(job, ctx):
        worker.request_stop()
        return {"echo": job.payload["n"]}

    status = await worker.run_async()
    done = await client.get_job(job.job_id)
    await client.aclose()
    return int(status), done.status

status, job_status = asyncio.run(main(sys.argv[1]))
print(json.dumps({"status": status, "job": job_status,
                  "extras": sorted({m.split(".")[0] for m in sys.modules
                                    if m.split(".")[0] in {"pgserver", "starlette", "uvicorn"}})}))
"""


@pytest.mark.slow
def test_without_extras_a_worker_runs_and_imports_no_pgserver(installed_without_extras: Path,
                                                              tmp_path: Path, db_url: str) -> None:
    python = str(installed_without_extras / "python")
    missing = subprocess.run([python, "-c", "import pgserver"], capture_output=True, text=True)
    assert missing.returncode != 0  # the venv truly lacks the extra
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    out = _run([python, "-c", WORKER_RUN, db_url], cwd=tmp_path, env=env).stdout
    assert json.loads(out.splitlines()[-1]) == {"status": 0, "job": "succeeded", "extras": []}


@pytest.mark.slow
@pytest.mark.parametrize("argv, extra", [(["db", "url"], "embedded"), (["demo"], "embedded"),
                                         (["serve"], "http")])
def test_without_extras_a_command_that_needs_one_names_the_pip_install(
        installed_without_extras: Path, tmp_path: Path, argv: list[str], extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    env["COLLAB_HOME"] = str(tmp_path / "home")
    done = subprocess.run([str(installed_without_extras / "python"), "-m", "collab_sdk.cli", *argv],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("collab: error: "), done.stderr
    assert f"pip install 'collab-sdk[{extra}]'" in done.stderr


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A Supabase project of a user's, with a Python ``pyproject.toml`` and a migration
    of its own that collab must never apply."""
    root = tmp_path / "app"
    (root / "supabase" / "migrations").mkdir(parents=True)
    (root / "supabase" / "migrations" / "20240101000000_app_todos.sql").write_text(
        "create table public.todos (id int);\n")
    (root / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\n')
    return root


@pytest.mark.slow
def test_vendored_in_a_project_root_it_applies_collabs_migrations_only(
        wheel: Path, user_project: Path, server_url: str) -> None:
    from collab_sdk.local.migrate import load_migrations
    from support import empty_database, migration_history
    vendor = user_project / "vendor"  # collab_sdk/../.. is the project root
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(vendor), str(wheel)],
         cwd=user_project)
    url = empty_database(server_url)
    env = {**os.environ, "PYTHONPATH": f"{vendor}:{sysconfig.get_paths()['purelib']}"}
    for _ in range(2):  # the second run is a no-op, not a failure
        _run([sys.executable, "-c", "import sys; from collab_sdk.local.migrate import migrate; "
              "assert __import__('collab_sdk').__file__.startswith(sys.argv[2]); migrate(sys.argv[1])",
              url, str(vendor)], cwd=user_project, env=env)
    assert [(v, n) for v, n, _ in migration_history(url)] == [(m.version, m.name) for m in load_migrations()]


def test_a_source_copy_in_a_project_refuses_rather_than_read_the_projects_migrations(
        user_project: Path, tmp_path: Path) -> None:
    shutil.copytree(REPO / "src" / "collab_sdk", user_project / "src" / "collab_sdk")
    done = subprocess.run([sys.executable, "-c", "from collab_sdk.local.paths import migrations_dir; "
                           "print(migrations_dir())"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(user_project / "src")})
    assert done.returncode != 0 and "collab's SQL is missing" in done.stderr, done.stdout + done.stderr
