"""collab installed from its wheel, outside the repository: the packages import, the SQL
ships inside the wheel, and the embedded database lives under ``COLLAB_HOME`` (or the
working directory), never inside site-packages."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel (no editable install), whose dependencies come from
    the test venv's site-packages; its bin directory. (``pip --target`` writes no
    console scripts, so the tests run ``python -m collab_sdk.cli``.)"""
    root = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(root / "dist"), str(REPO)], cwd=root)
    wheel = next((root / "dist").glob("collab_sdk-*.whl"))
    venv.create(root / "venv", with_pip=False)
    site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    # The test venv's packages as a plain path: its .pth files (the editable install)
    # are not processed from there.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
          str(wheel)], cwd=root)
    return root / "venv" / "bin"


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
