"""The worked example of docs/workflows.md runs as written: its worker block as a real
``collab worker`` process, its client block in this test, the run watched to its end."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from collab_sdk import CollabClient
from support import REPO

DOC = REPO / "docs" / "workflows.md"


def _blocks() -> list[str]:
    section = DOC.read_text().split("## A worked example", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_the_worked_example_runs(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worker_block, client_block = _blocks()
    (tmp_path / "app.py").write_text(worker_block)
    env = {**os.environ, "COLLAB_DATABASE_URL": db_url}
    worker = subprocess.Popen([sys.executable, "-m", "collab_sdk.cli", "worker", "app:worker"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("COLLAB_DATABASE_URL", db_url)
        with CollabClient.from_url(db_url) as probe:  # the worker registers its steps at start
            deadline = time.monotonic() + 30
            while not {"site.fetch", "site.publish"} <= {s.name for s in probe.workflows.step_types(executor_id="default")}:
                assert time.monotonic() < deadline and worker.poll() is None, "the worker did not start"
                time.sleep(0.1)
        sys.path.insert(0, str(tmp_path))
        namespace: dict[str, object] = {}
        exec(compile(worker_block, "app.py", "exec"), namespace)  # defines flow (and an unstarted worker)
        script = client_block.replace("# ... the worker runs \"fetch\"; the run pauses at \"review\"\n",
                                      "import time\nwhile client.workflows.get_run(run.id).status != 'paused':\n"
                                      "    time.sleep(0.05)\n")
        out = io.StringIO()
        with redirect_stdout(out):
            exec(compile(script, "client.py", "exec"), namespace)
        client = namespace["client"]
        run = namespace["run"]
        final = client.workflows.get_run(run.id)  # type: ignore[attr-defined]
        assert final.status == "succeeded"
        assert final.context["publish"] == {"published_by": "ana"}
        assert out.getvalue().splitlines()[-1].split()[1] == "run_succeeded"
        client.close()  # type: ignore[attr-defined]
    finally:
        sys.path.remove(str(tmp_path))
        worker.terminate()
        worker.wait(20)
