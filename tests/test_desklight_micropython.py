"""The desk light's shared logic gives the same answers on real MicroPython as on CPython.

MicroPython here is its WebAssembly port (npm package, installed by scripts/test.sh into
tests/micropython/node_modules), run by node: the same interpreter and standard modules
as the Pico W's firmware, less the hardware. The scripted scenario drives the real loop,
state, patterns, button, settings and messages; both interpreters must print the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import absent, require

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "micropython"
PACKAGE = ROOT / "firmware" / "desklight"


def micropython(script: Path) -> subprocess.CompletedProcess:
    node = require("node", "nodejs")
    if not (HERE / "node_modules").is_dir():
        absent("MicroPython's WebAssembly port is not installed: scripts/test.sh does it (`npm ci --prefix tests/micropython`)")
    return subprocess.run([node, str(HERE / "run.mjs"), str(PACKAGE), str(script)],
                          capture_output=True, text=True, timeout=120)


def cpython(script: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "firmware")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def both():
    mp, cp = micropython(HERE / "scenario.py"), cpython(HERE / "scenario.py")
    assert mp.returncode == 0, f"MicroPython failed:\n{mp.stderr}"
    assert cp.returncode == 0, f"CPython failed:\n{cp.stderr}"
    return json.loads(mp.stdout), json.loads(cp.stdout)


def test_micropython_and_cpython_tell_the_same_story(both):
    mp, cp = both
    for key in cp:
        assert mp[key] == cp[key], f"{key} differs between MicroPython and CPython"


def test_the_story_is_the_desk_lights(both):
    _, cp = both
    looks = {label: (kind, alert, lit) for label, _, kind, _, _, alert, lit, _ in cp["record"]}
    assert looks["insult"] == ("red", "r1", 3)  # line3: three pixels
    assert looks["released"] == ("amber", "a1", 7)  # short press acknowledged the red
    assert looks["amber expired"][0] == "clear"
    assert looks["broker lost"][0] == "offline"
    assert looks["back"] == ("red", "r2", 12)  # retained alert after reconnect, no line number
    assert looks["held"][0] == "clear"  # long hold acknowledged everything
    assert [a[3]["alert_id"] for a in cp["acks"]] == ["r1", None]
    assert cp["errors"][1] == "config.json: mqtt.port: must be an integer, got 'x'"


def test_micropython_run_fails_on_what_micropython_lacks(tmp_path):
    # Keeps the comparison honest: CPython-only code does fail under this MicroPython.
    script = tmp_path / "cpython_only.py"
    script.write_text("from dataclasses import dataclass\n")
    result = micropython(script)
    assert result.returncode == 1 and "ImportError" in result.stderr
