"""``collab_sdk.testing`` as a user meets it: the example files of ``docs/testing.md``
written to an empty directory and run with a real ``pytest`` process — the plugin comes
from the entry point alone, the database from the embedded server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import REPO


def example_files() -> dict[str, str]:
    """The fenced blocks of docs/testing.md that start with ``# <file name>``."""
    text = (REPO / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```(?:python|ini)\n# (\S+)\n(.*?)```", text, re.DOTALL)
    return {name: body for name, body in blocks}


def test_the_documented_example_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    files = example_files()
    assert set(files) == {"app.py", "test_app.py", "pytest.ini"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COLLAB_", "SUPABASE_", "PYTEST_"))}
    env["COLLAB_HOME"] = str(tmp_path / "never-used")   # the plugin's server lives in a temp dir
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    assert not (tmp_path / "never-used").exists()


def test_a_failing_user_test_fails(tmp_path: Path, server_url: str) -> None:
    """The fixtures do not swallow a failure: a wrong expectation makes pytest exit 1
    (on a server given by ``COLLAB_TEST_DATABASE_URL``, here the suite's own)."""
    (tmp_path / "test_wrong.py").write_text(
        "import pytest\n"
        "from collab_sdk.testing import assert_enqueued\n\n"
        "@pytest.mark.asyncio\n"
        "async def test_nothing_was_enqueued(collab_async_client):\n"
        "    await assert_enqueued(collab_async_client, type='welcome.email')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_", "PYTEST_"))}
    env["COLLAB_TEST_DATABASE_URL"] = server_url
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "expected a job with type='welcome.email'" in result.stdout
