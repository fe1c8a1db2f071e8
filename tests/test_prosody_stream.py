"""A line's prosody from frame tracks kept as the audio arrives, against the whole-recording analysis."""

import numpy as np
import pytest

from edge.prosody import ProsodyStream, analyse
from callqa_lab.gencall import generate_call


@pytest.mark.parametrize("rate", [8000, 16000])
def test_prosody_of_a_call_streamed_block_by_block_equals_the_whole_recording_analysis(rate):
    pcm, truth = generate_call("drawn_out", rate, seed=2)
    x = pcm[:, 0]
    segs = truth["segments"]["agent"]
    whole = analyse(x.astype(np.float32) / 32768, rate, segs)

    stream, block = ProsodyStream(rate), int(0.3 * rate)
    held = []
    for i in range(0, len(x), block):
        t0, t1 = i / rate, min(len(x), i + block) / rate
        stream.update(x[i : i + block], t0)
        for s, e in segs:  # a segment is known once it has ended (the VAD reports it later still)
            if t0 < e + 0.3 <= t1:
                stream.speech(s, e)
        speaking = next((s for s, e in segs if s <= t1 < e + 0.3), None)
        stream.release(t1 if speaking is None else speaking)
        held.append(stream.held_audio_s)
    streamed = stream.result(0.0, len(x) / rate, segs, whole.raised_voice)

    assert streamed.to_dict() == whole.to_dict()
    assert streamed.syllables == whole.syllables and whole.drawn_out  # the scenario has held syllables
    longest = max(e - s for s, e in segs)
    assert max(held) <= longest + 1.5  # audio of one speech segment and its margins, never the call
