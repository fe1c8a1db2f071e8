"""A test whose tool is absent says which tool, and under CI=true it fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEEDS_A_MISSING_TOOL = '''
from tests.tools import require

def test_needs_it():
    require("callqa-no-such-tool", "callqa-no-such-package")
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_a_missing_tool.py"
    test.write_text(NEEDS_A_MISSING_TOOL)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(test)], capture_output=True, text=True, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          timeout=120)


def test_a_missing_tool_skips_the_test_naming_the_tool_and_its_package(tmp_path):
    run = _run(tmp_path, None)
    assert run.returncode == 0, run.stdout
    assert "1 skipped" in run.stdout
    assert "callqa-no-such-tool is not installed (Debian package 'callqa-no-such-package'" in run.stdout


def test_under_ci_a_missing_tool_fails_the_run_naming_it(tmp_path):
    run = _run(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "1 failed" in run.stdout and "callqa-no-such-tool is not installed" in run.stdout
