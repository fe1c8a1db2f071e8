"""The rubric's phrases spelled in the model's units, without pypinyin in the service.

pypinyin's character and phrase tables cost the process that imports them about 55 MiB of
resident memory, and Python never gives most of it back. The live service needs them only
to spell its phrases at start and at each rubric reload, so it asks a short-lived child
process (spawned, so it shares no memory with the service) and keeps the answers. A process
that has pypinyin loaded already (training, evaluation) spells in place: nothing to save.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from edge.keywords.units import UnrepresentablePhrase, phrase_units

Spelling = tuple[str, ...] | UnrepresentablePhrase


def _spell_all(phrases: Sequence[str], inventory: Sequence[str]) -> dict[str, Spelling]:
    out: dict[str, Spelling] = {}
    for phrase in phrases:
        try:
            out[phrase] = tuple(phrase_units(phrase, inventory))
        except UnrepresentablePhrase as e:
            out[phrase] = e
    return out


_known: dict[tuple[tuple[str, ...], str], Spelling] = {}  # (inventory, phrase) → spelling


def spell_phrases(phrases: Sequence[str], inventory: Sequence[str]) -> dict[str, Spelling]:
    """phrase → its units, or the UnrepresentablePhrase saying why it cannot be spelled.
    Answers are kept, so eight lines and a reload with one new phrase ask the child once."""
    inventory = tuple(inventory)
    wanted = [p for p in dict.fromkeys(phrases) if (inventory, p) not in _known]
    if wanted:
        if "pypinyin" in sys.modules:
            new = _spell_all(wanted, inventory)
        else:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                new = child.submit(_spell_all, wanted, inventory).result()
        _known.update(((inventory, p), units) for p, units in new.items())
    return {p: _known[(inventory, p)] for p in phrases}
