"""The README's commands, verbatim, after the Makefile's demo recipe (run as written, with
fewer generated records): the query examples read what the demo wrote."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine import App
from engine.loader import load_pipeline
from tests.helpers.shoal import REPO_ROOT, shoal_argv, shoal_env

DEMO_DIR = ".shoal/demo"


def demo_recipe() -> list[str]:
    """The shell lines of the Makefile's `demo` target, continuation lines joined."""
    text = (REPO_ROOT / "Makefile").read_text().replace("\\\n", " ")
    body = text.split("\ndemo: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip().lstrip("@") for line in body.splitlines() if line.strip()]


def readme_block(after: str) -> list[str]:
    """The commands (comments dropped) of the first bash block after the text `after`."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split(after, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines()
            if line.strip() and not line.startswith("#")]


def sh(line: str, cwd: Path, env: dict[str, str] | None = None
       ) -> subprocess.CompletedProcess[str]:
    """`line` in a shell from `cwd`, `shoal` and the Makefile's variables resolved."""
    shoal = " ".join(map(shlex.quote, shoal_argv()))
    line = (line.replace("$(BIN)/python", shlex.quote(sys.executable))
            .replace("$(BIN)/shoal", shoal).replace("$(DEMO_DIR)", DEMO_DIR)
            .replace("$$", "$"))
    line = re.sub(r"^shoal ", shoal + " ", line)
    return subprocess.run(line, shell=True, cwd=cwd, env={**shoal_env(), **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the demo recipe ran (2,000 records of each kind, not 20,000)."""
    cwd = tmp_path_factory.mktemp("demo")
    (cwd / "apps").symlink_to(REPO_ROOT / "apps")
    for line in demo_recipe():
        done = sh(line.replace("--count 20000", "--count 2000"), cwd)
        assert done.returncode == 0, (line, done.stderr)
        assert "Traceback" not in done.stderr, (line, done.stderr)
    return cwd


def test_the_query_examples_work_verbatim_after_the_demo(after_demo: Path) -> None:
    lines = [c for c in readme_block("Every table can be queried") if c.startswith("shoal ")]
    assert len(lines) >= 2
    for line in lines:
        done = sh(line, after_demo)
        assert done.returncode == 0 and done.stdout.strip(), (line, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_python_lookup_works_verbatim_after_the_demo(
        after_demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO_ROOT / "README.md").read_text()
    call = re.search(r"`(App\(p, \"\.shoal/demo\".*?)`", text)
    assert call is not None
    namespace = {"App": App, "p": load_pipeline(str(REPO_ROOT / "apps" / "shop_tables.py"))}
    monkeypatch.chdir(after_demo)
    row = eval(call.group(1), namespace)
    assert row is not None


def test_the_command_line_examples_read_the_demo_log(after_demo: Path) -> None:
    """With SHOAL_DATA_DIR as the README suggests, the reading commands of the command-line
    block work as written."""
    reading = ("shoal tail", "shoal topics", "shoal reset")
    lines = [c for c in readme_block("## The command line") if c.startswith(reading)]
    assert len(lines) >= 4
    for line in lines:
        line = line + " --dry-run" if line.startswith("shoal reset") else line
        done = sh(line, after_demo, {"SHOAL_DATA_DIR": DEMO_DIR})
        assert done.returncode == 0 and (done.stdout + done.stderr).strip(), (line, done.stderr)
        assert "Traceback" not in done.stderr
