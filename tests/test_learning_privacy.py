"""Learning mode on: the box keeps speech on disk, and nothing of it reaches the broker."""

import base64
import json
import subprocess
import sys

from scipy.io import wavfile

from callqa_lab.gencall import generate_call
from edge.config import load_config
from edge.learning.store import SegmentStore
from tests.mqtt_helpers import Collector


def test_no_mqtt_payload_carries_anything_from_the_learning_store(tmp_path, broker):
    calls = tmp_path / "calls"
    calls.mkdir()
    for i, name in enumerate(("polite", "raised_voice")):
        wavfile.write(calls / f"{i}-{name}.wav", 8000, generate_call(name, 8000, seed=40 + i)[0])
    cfg_path = tmp_path / "box.toml"
    cfg_path.write_text(f"""
[box]
site = "hq"
group = "g1"
id = "box7"
state_dir = "{tmp_path / 'state'}"
[audio]
sample_rate = 8000
[mqtt]
enabled = true
url = "{broker.url}"
receipts = false
[learning]
enabled = true
[[lines]]
name = "desk3"
source = "replay"
path = "{calls}"
realtime = false
""")
    central = Collector(broker.port, "#")
    r = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(cfg_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "LEARNING MODE IS ON" in r.stderr
    central.wait_for(lambda: len(central.of_kind("score")) == 2, 30, "two scores")
    store = SegmentStore.from_config(load_config(cfg_path))
    kept = store.segments()
    assert len(kept) >= 4  # the calls' speech is on disk
    payloads = [json.dumps(doc, ensure_ascii=False) for _, doc, _ in central.messages]
    assert payloads
    needles = [str(store.folder)] + [s.path.name for s in kept] + [s.path.stem for s in kept]
    for s in kept:
        pcm = store.read(s.path)[1000:1012].tobytes()  # a stretch of each segment's samples
        needles += [base64.b64encode(pcm).decode(), pcm.hex()]
    for payload in payloads:
        for needle in needles:
            assert needle not in payload, f"a payload carries {needle!r}"
    central.close()
