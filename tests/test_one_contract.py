"""The MQTT contract has one implementation, in callqa_contract, that the box, the store,
`callqa watch`, the light bridge and the lab all import: one Envelope, one topic parser, one
schema registry, one broker-URL parser. A second copy is how the two ends drift apart, so
these tests read the shipped source trees and find each piece exactly once.
(The desk-light firmware is MicroPython and keeps its own copy; tests/test_desklight_logic.py
holds that copy to the contract.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("edge", "central/callqa_central", "callqa_contract", "lab/callqa_lab")
# Database URLs are the store's own business; every broker URL goes through the contract.
URL_PARSING = {"callqa_contract/broker.py", "central/callqa_central/db.py"}


def _modules() -> dict[str, ast.Module]:
    files = sorted(p for tree in SHIPPED for p in (ROOT / tree).rglob("*.py"))
    return {p.relative_to(ROOT).as_posix(): ast.parse(p.read_text(), str(p)) for p in files}


MODULES = _modules()


def _functions():
    """(module, function name, function node) for every function, nested ones included."""
    for name, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield name, node.name, node


def _calls(node: ast.AST, callee: str) -> bool:
    """The calls in `node` of `callee`, as a name or an attribute (`urlparse(...)`, `x.split(...)`)."""
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            if (isinstance(f, ast.Name) and f.id == callee) or (isinstance(f, ast.Attribute) and f.attr == callee):
                yield call


def _strings(node: ast.AST, value: str) -> list[ast.Constant]:
    return [c for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value == value]


def test_the_shipped_trees_are_read():
    assert {"callqa_contract/topics.py", "central/callqa_central/validate.py", "edge/mqtt/client.py",
            "lab/callqa_lab/simulate.py"} <= set(MODULES)


def test_there_is_one_envelope_class_the_contracts():
    envelopes = [name for name, tree in MODULES.items() for node in ast.walk(tree)
                 if isinstance(node, ast.ClassDef) and node.name == "Envelope"]
    assert envelopes == ["callqa_contract/messages.py"]


def test_topics_are_split_into_levels_only_by_the_contracts_parser():
    splitters = sorted({(module, fn) for module, fn, node in _functions()
                        for call in _calls(node, "split") if call.args and _strings(call.args[0], "/")})
    assert splitters == [("callqa_contract/topics.py", "parse")]


def test_schemas_are_loaded_into_validators_only_by_the_contracts_registry():
    loaders = sorted({module for module, tree in MODULES.items()
                      for callee in ("Draft202012Validator", "Registry") if any(_calls(tree, callee))})
    assert loaders == ["callqa_contract/registry.py"]


def test_broker_urls_are_parsed_only_by_the_contract():
    parsing = sorted(module for module, tree in MODULES.items()
                     if any(_calls(tree, "urlparse")) or any(_calls(tree, "urlsplit")))
    assert set(parsing) <= URL_PARSING
    broker_parsers = sorted((module, fn) for module, fn, node in _functions()
                            if module != "central/callqa_central/db.py" and any(_calls(node, "urlparse")))
    assert broker_parsers == [("callqa_contract/broker.py", "parse_broker_url")]
    # The scheme names, as scheme names (not inside help text), appear in the contract only.
    schemes = sorted({module for module, tree in MODULES.items() if _strings(tree, "mqtts") or _strings(tree, "ssl")})
    assert schemes == ["callqa_contract/broker.py"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("callqa_contract/")))
def test_the_contract_imports_nothing_of_the_box_the_store_or_the_lab(module):
    imported = {alias.name for node in ast.walk(MODULES[module]) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(MODULES[module]) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("edge", "callqa_central", "callqa_lab", "firmware")}
