"""Every firmware file compiles with MicroPython's own compiler (mpy-cross), and the shared
logic keeps to what MicroPython has, so the Pico W runs the very code the other tests run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
FILES = sorted(FIRMWARE.rglob("*.py"))
PORTABLE = sorted((FIRMWARE / "desklight").glob("*.py"))
# Modules both CPython and MicroPython (rp2 port) have under these names.
MICROPYTHON_STDLIB = {"json", "math", "os", "random", "time"}


def mpy_cross(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=60)


def test_there_is_firmware_to_compile():
    names = {p.relative_to(FIRMWARE).as_posix() for p in FILES}
    assert {"main.py", "board.py", "desklight/app.py", "desklight/state.py"} <= names


@pytest.mark.parametrize("src", FILES, ids=lambda p: p.relative_to(FIRMWARE).as_posix())
def test_firmware_file_compiles_with_mpy_cross(src, tmp_path):
    out = tmp_path / (src.stem + ".mpy")
    result = mpy_cross(src, out)
    assert result.returncode == 0, f"mpy-cross refused {src.relative_to(FIRMWARE)}:\n{result.stderr}"
    assert out.read_bytes()[:1] == b"M"  # .mpy header


def test_mpy_cross_does_refuse_what_micropython_cannot_compile(tmp_path):
    # Keeps the test above honest: a `match` statement is CPython-only syntax.
    bad = tmp_path / "bad.py"
    bad.write_text("match 1:\n    case 1:\n        pass\n")
    assert mpy_cross(bad, tmp_path / "bad.mpy").returncode != 0


@pytest.mark.parametrize("src", PORTABLE, ids=lambda p: p.name)
def test_shared_logic_uses_only_what_micropython_has(src):
    tree = ast.parse(src.read_text())
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [f"import {a.name}" for a in node.names if a.name not in MICROPYTHON_STDLIB]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in MICROPYTHON_STDLIB:
            problems.append(f"from {node.module} import ...")
        elif isinstance(node, ast.JoinedStr):
            problems.append(f"f-string at line {node.lineno} (use %-formatting)")
        elif isinstance(node, (ast.AnnAssign, ast.arg)) and getattr(node, "annotation", None) is not None:
            problems.append(f"annotation at line {node.lineno}")
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            problems.append(f"return annotation at line {node.lineno}")
    assert not problems, f"{src.name}: {problems}"
