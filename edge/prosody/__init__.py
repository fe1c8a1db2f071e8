"""Prosody of one side of a call: pitch, level, speech rate, raised voice, drawn-out syllables.

Pure numpy/scipy on 10 ms frames, vectorised, cheap enough for a Raspberry Pi to run on every
line (see `edge.bench.prosody`). Praat is the test-only reference (GPL); nothing here uses it.

- `analyse(samples, sample_rate, speech) -> SideProsody`: a whole call side, for the CallScore.
- `ProsodyStream(sample_rate)`: the same for a live line, from frame tracks kept as audio arrives
  (a call's audio is never held: memory grows by ~1.6 kB per second of call per side).
- `RaisedVoiceTracker(sample_rate, side, line)`: streaming raised-voice detection for live alerts.
"""

from edge.prosody.analysis import ProsodyTrack, SideProsody
from edge.prosody.raised import RaisedVoiceTracker
from edge.prosody.stream import ProsodyStream, analyse

__all__ = ["ProsodyStream", "ProsodyTrack", "RaisedVoiceTracker", "SideProsody", "analyse"]
