"""Prosody of one side of a call: pitch, level, speech rate, raised voice, drawn-out syllables.

Pure numpy/scipy on 10 ms frames, vectorised, cheap enough for a Raspberry Pi to run on every
line (see `edge.prosody.bench`). Praat is the test-only reference (GPL); nothing here uses it.

- `analyse(samples, sample_rate, speech) -> SideProsody`: a whole call side, for the CallScore.
- `RaisedVoiceTracker(sample_rate, side, line)`: streaming raised-voice detection for live alerts.
"""

from edge.prosody.analysis import ProsodyTrack, SideProsody, analyse
from edge.prosody.raised import RaisedVoiceTracker

__all__ = ["ProsodyTrack", "RaisedVoiceTracker", "SideProsody", "analyse"]
