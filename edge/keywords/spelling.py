"""The rubric's phrases spelled in the model's units, without pypinyin in the service.

pypinyin's character and phrase tables cost the process that imports them about 55 MiB of
resident memory, and Python never gives most of it back. The live service needs them only
to spell its phrases at start and at each rubric reload, so it asks a short-lived child
Python (a fresh interpreter: it shares no memory with the service, and unlike
multiprocessing's spawn it never re-imports the caller's main script) and keeps the answers.
A process that has pypinyin loaded already (training, evaluation) spells in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

from edge.keywords.units import UnrepresentablePhrase, phrase_units

Spelling = tuple[str, ...] | UnrepresentablePhrase

_known: dict[tuple[tuple[str, ...], str], Spelling] = {}  # (inventory, phrase) → spelling
_lock = threading.Lock()  # eight lines starting at once ask the child once, not eight times


def _spell_all(phrases: Sequence[str], inventory: Sequence[str]) -> dict[str, Spelling]:
    out: dict[str, Spelling] = {}
    for phrase in phrases:
        try:
            out[phrase] = tuple(phrase_units(phrase, inventory))
        except UnrepresentablePhrase as e:
            out[phrase] = e
    return out


def _spell_in_child(phrases: Sequence[str], inventory: Sequence[str]) -> dict[str, Spelling]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the same edge as ours
    done = subprocess.run([sys.executable, "-m", "edge.keywords.spelling"], env=env, capture_output=True,
                          input=json.dumps({"phrases": list(phrases), "inventory": list(inventory)}),
                          text=True, encoding="utf-8", timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"spelling the rubric's phrases failed: {done.stderr.strip()[-500:]}")
    answers = json.loads(done.stdout)
    return {p: tuple(a) if isinstance(a, list) else UnrepresentablePhrase(a) for p, a in answers.items()}


def spell_phrases(phrases: Sequence[str], inventory: Sequence[str]) -> dict[str, Spelling]:
    """phrase → its units, or the UnrepresentablePhrase saying why it cannot be spelled.
    Answers are kept, so eight lines and a reload with one new phrase ask the child once."""
    inventory = tuple(inventory)
    with _lock:
        wanted = [p for p in dict.fromkeys(phrases) if (inventory, p) not in _known]
        if wanted:
            spell = _spell_all if "pypinyin" in sys.modules else _spell_in_child
            _known.update(((inventory, p), units) for p, units in spell(wanted, inventory).items())
        return {p: _known[(inventory, p)] for p in phrases}


if __name__ == "__main__":  # the child: JSON {phrases, inventory} in, {phrase: units | reason} out
    asked = json.load(sys.stdin)
    spelled = _spell_all(asked["phrases"], asked["inventory"])
    json.dump({p: list(u) if isinstance(u, tuple) else str(u) for p, u in spelled.items()}, sys.stdout,
              ensure_ascii=False)
