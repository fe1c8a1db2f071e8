"""Each place installs and imports only what it runs there.

- The box (callqa-edge, `pip install .`) pulls in no database driver.
- Central QA (callqa-central, `pip install ./central`) pulls in no audio or model runtime and
  runs with the box's stack absent.
- Nothing shipped (edge/, callqa_contract/, central/callqa_central/, the desk light's firmware)
  imports the lab, scripts/ or the tests, and the box and central QA never import each other.

"Pulls in" is read from the installed metadata, following every requirement down (markers
evaluated for this machine), so a dependency of a dependency counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
DATABASE_DRIVERS = {"psycopg", "psycopg-binary", "psycopg-c", "psycopg2", "psycopg2-binary", "asyncpg", "pymysql",
                    "mysqlclient", "sqlalchemy"}
AUDIO_AND_MODEL_RUNTIMES = {"onnxruntime", "ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu", "torch",
                            "sounddevice", "webrtcvad", "webrtcvad-wheels", "praat-parselmouth"}
# Top-level packages of each place, and what each may never import.
SHIPPED = {
    "edge": {"callqa_lab", "callqa_central", "scripts", "tests", "psycopg"},
    "callqa_contract": {"callqa_lab", "callqa_central", "edge", "scripts", "tests"},
    "central/callqa_central": {"callqa_lab", "edge", "scripts", "tests", "onnxruntime", "ai_edge_litert", "sounddevice",
                               "webrtcvad"},
    "firmware/desklight": {"callqa_lab", "callqa_central", "edge", "scripts", "tests"},
}


def pulled_in(dist: str) -> set[str]:
    """Every distribution that installing `dist` (no extras) brings, by canonical name."""
    found: set[str] = set()
    todo = [(canonicalize_name(dist), ("",))]
    while todo:
        name, extras = todo.pop()
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue  # not installed here (another platform's wheel): its name still counts
        for text in reqs:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
                continue
            key = canonicalize_name(req.name)
            if key not in found:
                found.add(key)
                todo.append((key, ("", *sorted(req.extras))))
    return found


def test_the_box_pulls_in_no_database_driver():
    box = pulled_in("callqa-edge")
    assert {"onnxruntime", "webrtcvad-wheels", "paho-mqtt"} <= box  # the walk really reads the box's needs
    assert not box & DATABASE_DRIVERS


def test_central_qa_pulls_in_no_audio_or_model_runtime():
    central = pulled_in("callqa-central")
    assert {"paho-mqtt", "jsonschema", "psycopg"} <= central
    assert not central & AUDIO_AND_MODEL_RUNTIMES
    assert "callqa-edge" not in central


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("tree", sorted(SHIPPED))
def test_nothing_shipped_imports_the_lab_scripts_or_the_other_place(tree):
    """Every import statement, lazy ones inside functions included."""
    files = sorted((REPO / tree).rglob("*.py"))
    assert files
    wrong = {f"{f.relative_to(REPO)}: {name}" for f in files for name in _imports(f) & SHIPPED[tree]}
    assert not wrong, sorted(wrong)


def test_central_qa_runs_with_the_box_and_its_audio_stack_absent():
    """Import every central module and build its CLI with the box's packages made unimportable."""
    blocked = sorted(SHIPPED["central/callqa_central"] | {"scipy"})
    code = f"""
import importlib, importlib.abc, pkgutil, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f'{{name}} is not installed on a central QA server')
sys.meta_path.insert(0, Absent())
import callqa_central
for m in pkgutil.walk_packages(callqa_central.__path__, 'callqa_central.'):
    if not m.name.endswith('__main__'):
        importlib.import_module(m.name)
from callqa_central.cli import build_parser
build_parser().parse_args(['report', 'daily'])
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.stdout.strip() == "ok", out.stderr


def _wheel(project: Path, out: Path) -> list[str]:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(project)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_each_wheel_holds_its_place_the_contract_and_nothing_else(tmp_path):
    box = _wheel(REPO, tmp_path / "box")
    central = _wheel(REPO / "central", tmp_path / "central")
    tops = lambda names: {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}  # noqa: E731
    assert tops(box) == {"edge", "callqa_contract", "firmware"}
    assert tops(central) == {"callqa_central", "callqa_contract"}
    # central ships the contract's real files (its folder is a link to the one copy), schemas included
    contract = lambda names: sorted(n for n in names if n.startswith("callqa_contract/"))  # noqa: E731
    assert contract(central) == contract(box)
    assert "callqa_contract/schemas/callscore.v1.json" in central
    assert "edge/bench/bench-call.wav" in box
    assert "callqa_central/migrations/0001_initial.sql" in central
