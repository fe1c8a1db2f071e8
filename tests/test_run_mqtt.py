"""`callqa run` end to end: a replayed folder of calls, scored, published to a real Mosquitto."""

import subprocess
import sys

from scipy.io import wavfile

from callqa_lab.gencall import generate_call
from edge.config import load_config
from edge.keywords.trust import running_model, short_model
from tests.mqtt_helpers import Collector


def test_run_publishes_every_replayed_call_and_its_alerts_to_the_broker(tmp_path, broker):
    calls = tmp_path / "calls"
    calls.mkdir()
    for i, name in enumerate(("polite", "raised_voice")):
        wavfile.write(calls / f"{i}-{name}.wav", 8000, generate_call(name, 8000, seed=20 + i)[0])
    cfg = tmp_path / "box.toml"
    cfg.write_text(f"""
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
receipts = false  # no store here: the box waits for the broker's PUBACKs, not for receipts
[[lines]]
name = "desk3"
source = "replay"
path = "{calls}"
realtime = false
""")
    central = Collector(broker.port, "callqa/v1/hq/g1/box7/#")
    r = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "every score and alert is acknowledged by the broker; the outbox is empty" in r.stderr
    central.wait_for(lambda: len(central.of_kind("score")) == 2, 30, "two scores")
    assert not central.invalid, central.invalid
    scores = [env["body"] for env in central.of_kind("score")]
    assert [s["line"] for s in scores] == ["desk3", "desk3"]
    topics = {t for t, env, _ in central.messages if env["kind"] == "score"}
    assert topics == {"callqa/v1/hq/g1/box7/score/desk3"}
    alerts = [env["body"] for env in central.of_kind("alert")]
    assert alerts and {a["item"] for a in alerts} == {"raised_voice"}
    assert {a["call_id"] for a in alerts} == {scores[1]["call_id"]}
    online = [env["body"] for env in central.of_kind("status") if env["body"]["state"] == "online"]
    assert online and {s["model"] for s in online} == {short_model(running_model(load_config(cfg).keywords))}
    runtime = load_config(cfg).keywords.runtime  # "auto" resolved: tflite where LiteRT is installed
    assert online[0]["model"].startswith(f"kws.int8.{'tflite' if runtime == 'tflite' else 'onnx'} sha256:")
    central.close()
