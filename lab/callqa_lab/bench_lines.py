"""`callqa bench --lines N`: the real service, `callqa run`, with N replay lines, measured from outside.

Each line replays generated calls of its own (lab/callqa_lab/gencall.py, so the truth of every
phrase is known) at real time (or as fast as possible, `--fast`), with keywords and MQTT on, to
a Mosquitto this bench starts on a loopback port (or `--broker URL`). The service runs as a
separate process exactly as `callqa run --config FILE` would on a box; the bench only reads
what anyone could read about it:

- CPU: the process's own utime + stime (/proc/PID/stat) over the time every line was playing
  audio, per line, as % of one core: other processes' load on the machine hardly counts;
- memory: resident set (VmRSS) sampled every SAMPLE_S while the lines play (median and most),
  and the process's peak (VmHWM) including start-up;
- dropped audio blocks: the service's own count (`callqa_line_dropped_blocks` on its metrics
  endpoint): a realtime replay is read into a bounded queue like a sound card;
- live alert delay: from the end of the phrase in the audio to the alert's PUBLISH arriving
  at a subscriber here. The phrase's end is placed on the wall clock through its call's
  CallScore: call start (wall) + (phrase end - the call's first speech) from the truth; the
  VAD's call start is within a few 10 ms steps of the truth's first speech;
- score delay: from a call's real end (its last speech: the CallScore's `end`) to the score's
  PUBLISH arriving, for all calls and for the calls with a hold (scenarios `hold`, `hold_music`:
  the call waits through its hold and ends end_silence_s after its last speech once the replay's
  idle gap shows the caller gone; a line left open would wait up to calls.max_hold_s).

    callqa bench --lines 8 [--rate 16000] [--calls 3] [--fast] [--runtime auto|onnx|tflite] [--broker URL] [--json]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from prometheus_client.parser import text_string_to_metric_families
from scipy.io import wavfile

from callqa_contract.broker import parse_broker_url
from callqa_contract.messages import parse_iso
from callqa_contract.topics import Topics
from edge.config import KeywordsConfig
from edge.line import REPLAY_GAP_S
from callqa_lab.bench_mqtt import BROKER_QUEUES, _percentiles
from callqa_lab.gencall import generate_call
from callqa_lab.testbroker import Broker, free_port, terminate

# Each line plays these in turn, from its own offset, with seeds of its own: forbidden
# phrases and insults (red alerts), holds (silent, music), raised voices, an upset customer,
# ordinary calls.
SCENARIOS = ("rude", "hold", "random", "raised_voice", "hold_music", "upset_customer", "polite")
SAMPLE_S = 0.25  # how often /proc and the metrics endpoint are read
GAP_S = REPLAY_GAP_S  # idle between replayed recordings (more than calls.end_silence_s + 2)
_PUNCTUATION = re.compile(r"[\s，。、！？,.!?；;：:]+")


class _Sample(NamedTuple):
    wall: float  # time.time()
    cpu_s: float  # the service's utime + stime so far
    rss_mib: float
    hwm_mib: float
    metrics: dict[str, dict[str, float]]  # its metrics endpoint: name → line → value


@dataclass
class LinesResult:
    lines: int
    rate: int
    realtime: bool
    runtime: str  # the keyword model's runtime (int8)
    audio_s_per_line: float  # audio replayed per line
    window_s: float  # wall time over which CPU was measured (every line playing)
    cpu_pct_per_line: float  # % of one core per line, over the window
    cpu_pct_total: float
    startup_cpu_s: float  # CPU used before every line was playing (imports, models)
    rss_mib_median: float  # while the lines play
    rss_mib_max: float
    peak_rss_mib: float  # VmHWM: the most the process ever held, start-up included
    dropped_blocks: int
    rtf_per_line: float  # the service's own compute / audio (callqa_line_rtf), mean over lines
    calls_expected: int
    scores_received: int
    alerts_received: int
    phrase_alerts_matched: int  # red alerts placed against a phrase of the truth
    alert_delay_ms: dict[str, float]  # phrase end → PUBLISH arrival: p50 / p95 / max
    score_delay_ms: dict[str, float]  # the call's last speech → PUBLISH arrival
    score_delay_ms_holds: dict[str, float]  # the same, calls with a hold
    load_avg: tuple[float, float, float]  # at the end, this machine's (other work counts there)
    machine: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def generate_lines(folder: Path, lines: int, calls: int, rate: int) -> dict[str, list[dict]]:
    """Each line's folder of generated calls; line → the truth of each call, in play order."""
    truths: dict[str, list[dict]] = {}
    for i in range(lines):
        line = f"line{i + 1}"
        (folder / line).mkdir(parents=True, exist_ok=True)
        truths[line] = []
        for j in range(calls):
            name = SCENARIOS[(i + j) % len(SCENARIOS)]
            pcm, truth = generate_call(name, rate, seed=1000 + 100 * i + j)
            wavfile.write(folder / line / f"{j:02d}-{name}.wav", rate, pcm)
            truths[line].append(truth)
    return truths


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def write_config(path: Path, workdir: Path, calls: Path, lines: int, rate: int, realtime: bool,
                 broker_url: str, metrics_port: int, runtime: str = "auto") -> None:
    """The box config of the run: replay lines, keywords (int8, the default) and MQTT on."""
    sections = {
        "box": {"site": "bench", "group": "g1", "id": f"bench-{uuid.uuid4().hex[:6]}", "state_dir": workdir / "state"},
        "audio": {"sample_rate": rate},
        "keywords": {"enabled": True, "runtime": runtime, "precision": "int8"},
        # receipts off: no central store here, a message is done at the broker's PUBACK
        "mqtt": {"enabled": True, "url": broker_url, "receipts": False, "drain_s": 30.0},
        "outbox": {"path": workdir / "outbox.sqlite"},
        "ops": {"metrics_port": metrics_port},
    }
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in body.items()) + "\n"
                   for name, body in sections.items())
    for i in range(lines):
        text += (f"[[lines]]\nname = \"line{i + 1}\"\nsource = \"replay\"\npath = {_toml(calls / f'line{i + 1}')}\n"
                 f"realtime = {_toml(realtime)}\n\n")
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class _Subscriber:
    """Central QA's view: every score and alert of the box, with its arrival time here."""

    def __init__(self, broker_url: str, topics: Topics):
        self.scores: list[tuple[float, dict]] = []
        self.alerts: list[tuple[float, dict]] = []
        self._lock = threading.Lock()
        address = parse_broker_url(broker_url)
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-lines-{uuid.uuid4().hex[:6]}",
                                   protocol=MQTTProtocolVersion.MQTTv5)
        subscribed = threading.Event()
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: subscribed.set()
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe([(topics.every_line("score"), 1),
                                                                     (topics.every_line("alert"), 1)])
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError(f"bench subscriber could not subscribe on {broker_url}")

    def _on_message(self, client, userdata, msg) -> None:
        now = time.time()
        doc = json.loads(msg.payload)
        with self._lock:
            (self.scores if doc["kind"] == "score" else self.alerts).append((now, doc["body"]))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_mem_mib(pid: int) -> dict[str, float]:
    out = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
    return out


def _scrape(port: int) -> dict[str, dict[str, float]]:
    """metric name → line → value, from the service's metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "line" in s.labels:
                out.setdefault(s.name, {})[s.labels["line"]] = s.value
    return out


def _epochs(samples: list["_Sample"]) -> dict[str, float]:
    """Each line's stream time 0 on the wall clock. A line's audio counter moves on when a block
    has been processed, which is never before its audio has all arrived, so wall time minus
    audio processed is never below the epoch and comes within a block's processing of it."""
    out: dict[str, float] = {}
    for s in samples:
        for line, audio_s in _audio(s).items():
            if audio_s > 0:
                out[line] = min(out.get(line, np.inf), s.wall - audio_s)
    return out


def _phrase_ends(truths: list[dict]) -> list[tuple[str, float]]:
    """(phrase, end in stream time) of the agent's marked phrases and of agent turns that are a
    phrase as a whole, on the line's stream clock (recordings GAP_S apart)."""
    out, t0 = [], 0.0
    for truth in truths:
        out += [(p["phrase"], t0 + p["end"]) for p in truth["phrases"] if p["side"] == "agent"]
        out += [(_PUNCTUATION.sub("", turn["text"]), t0 + turn["end"]) for turn in truth["turns"]
                if turn["side"] == "agent" and "[" not in turn["text"]]
        t0 += truth["duration"] + GAP_S
    return out


def _score_delays(scores: list[tuple[float, dict]], holds: bool) -> list[float]:
    """The call's last speech (its CallScore's end) → the score's arrival, s; `holds`: only the
    calls with a hold, else all."""
    return [arrived - parse_iso(s["end"]).timestamp() for arrived, s in scores
            if not holds or s["metrics"].get("holds", {}).get("count", 0) > 0]


def _alert_delays(truths: dict[str, list[dict]], epochs: dict[str, float], alerts: list[tuple[float, dict]]) -> list[float]:
    """Phrase end → alert arrival, s. An alert is placed on the latest phrase of its text that
    ended before it arrived; one whose text the truth has nowhere before it (a false alarm) has
    no delay to measure."""
    ends = {line: _phrase_ends(t) for line, t in truths.items()}
    alert_delays = []
    for arrived, alert in alerts:
        phrase = alert.get("evidence", {}).get("phrase")
        if phrase is None or alert["line"] not in epochs:
            continue
        heard = arrived - epochs[alert["line"]]  # stream time of the arrival
        before = [end for text, end in ends[alert["line"]] if phrase in text and end <= heard]
        if before:
            alert_delays.append(heard - max(before))
    return alert_delays


def run_lines(lines: int = 8, rate: int = 16000, calls: int = 3, realtime: bool = True,
              broker_url: str | None = None, workdir: Path | None = None, runtime: str = "auto") -> LinesResult:
    runtime = KeywordsConfig(runtime=runtime).runtime  # "auto" → what this machine runs
    with tempfile.TemporaryDirectory(prefix="callqa-bench-lines-") as tmp:
        work = Path(workdir or tmp)
        truths = generate_lines(work / "calls", lines, calls, rate)
        broker = None
        if broker_url is None:
            broker = Broker(work / "broker", extra_conf=BROKER_QUEUES).start()
            broker_url = broker.url
        try:
            return _measure(work, truths, lines, rate, realtime, broker_url, runtime)
        finally:
            if broker is not None:
                broker.stop()


def _measure(work: Path, truths: dict[str, list[dict]], lines: int, rate: int, realtime: bool,
             broker_url: str, runtime: str) -> LinesResult:
    port = free_port()
    config = work / "box.toml"
    write_config(config, work, work / "calls", lines, rate, realtime, broker_url, port, runtime)
    box = next(row.split("=", 1)[1].strip().strip('"') for row in config.read_text().splitlines()
               if row.startswith("id ="))
    subscriber = _Subscriber(broker_url, Topics("callqa/v1", "bench", "g1", box))
    log = open(work / "service.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log)
    samples: list[_Sample] = []
    try:
        while proc.poll() is None:
            try:
                metrics = _scrape(port)
                cpu, mem = _proc_cpu_s(proc.pid), _proc_mem_mib(proc.pid)
            except (OSError, ValueError):
                time.sleep(SAMPLE_S)  # not serving yet, or just exited
                continue
            samples.append(_Sample(time.time(), cpu, mem["VmRSS"], mem["VmHWM"], metrics))
            time.sleep(SAMPLE_S)
        proc.wait()
    finally:
        terminate(proc, 30)
        log.close()
        time.sleep(1.0)  # the last messages still on their way
        subscriber.close()
    (work / "messages.json").write_text(json.dumps({"scores": subscriber.scores, "alerts": subscriber.alerts}))
    if proc.returncode != 0:
        raise RuntimeError(f"callqa run exited {proc.returncode}:\n{(work / 'service.log').read_text()[-3000:]}")
    return _result(samples, truths, subscriber, lines, rate, realtime, runtime)


def _audio(sample: "_Sample") -> dict[str, float]:
    """line → audio processed (s), as the service's metrics say."""
    return sample.metrics.get("callqa_line_audio_seconds_total", sample.metrics.get("callqa_line_audio_seconds", {}))


def _result(samples: list["_Sample"], truths, subscriber: _Subscriber, lines: int, rate: int,
            realtime: bool, runtime: str) -> LinesResult:
    playing = [s for s in samples if len(_audio(s)) == lines and min(_audio(s).values()) > 0]
    if len(playing) < 2:
        raise RuntimeError("the service's lines never all played audio (see service.log)")
    first = playing[0]
    # the window ends at the last sample at which every line's audio had moved on
    moving = [b for a, b in zip(playing, playing[1:]) if all(_audio(b)[k] > _audio(a)[k] for k in _audio(a))]
    last = moving[-1] if moving else playing[-1]
    window = [s for s in playing if first.wall <= s.wall <= last.wall]
    wall, cpu = last.wall - first.wall, last.cpu_s - first.cpu_s
    final = samples[-1].metrics
    dropped = int(sum(final.get("callqa_line_dropped_blocks_total", final.get("callqa_line_dropped_blocks", {})).values()))
    rtf = final.get("callqa_line_rtf", {})
    alert_delays = _alert_delays(truths, _epochs(samples), subscriber.alerts)
    return LinesResult(
        lines=lines, rate=rate, realtime=realtime, runtime=runtime,
        audio_s_per_line=round(statistics.mean(_audio(samples[-1]).values()), 1),
        window_s=round(wall, 1),
        cpu_pct_per_line=round(100 * cpu / wall / lines, 3),
        cpu_pct_total=round(100 * cpu / wall, 2),
        startup_cpu_s=round(first.cpu_s, 2),
        rss_mib_median=round(statistics.median(s.rss_mib for s in window), 1),
        rss_mib_max=round(max(s.rss_mib for s in window), 1),
        peak_rss_mib=round(samples[-1].hwm_mib, 1),
        dropped_blocks=dropped,
        rtf_per_line=round(statistics.mean(rtf.values()), 5) if rtf else float("nan"),
        calls_expected=sum(len(t) for t in truths.values()),
        scores_received=len(subscriber.scores), alerts_received=len(subscriber.alerts),
        phrase_alerts_matched=len(alert_delays),
        alert_delay_ms=_percentiles(alert_delays), score_delay_ms=_percentiles(_score_delays(subscriber.scores, False)),
        score_delay_ms_holds=_percentiles(_score_delays(subscriber.scores, True)),
        load_avg=tuple(round(x, 2) for x in os.getloadavg()),
    )


ROWS = (  # (label, field, format)
    ("lines, rate, keyword runtime", None, None),
    ("audio per line", "audio_s_per_line", "{:.0f} s"),
    ("CPU per line (process utime+stime / wall / lines)", "cpu_pct_per_line", "{:.2f} % of one core"),
    ("CPU, whole service", "cpu_pct_total", "{:.1f} % of one core"),
    ("CPU before every line played (start-up)", "startup_cpu_s", "{:.1f} s"),
    ("RSS while playing: median / most", None, None),
    ("RSS peak (VmHWM, start-up included)", "peak_rss_mib", "{:.0f} MiB"),
    ("dropped audio blocks", "dropped_blocks", "{}"),
    ("the service's own RTF per line", "rtf_per_line", "{:.4f}"),
    ("scores received / calls", None, None),
    ("live alerts received (red, placed on a phrase)", None, None),
    ("live alert delay, phrase end → PUBLISH: p50 / p95 / max", "alert_delay_ms", None),
    ("score delay, call's last speech → PUBLISH: p50 / p95 / max", "score_delay_ms", None),
    ("… calls with a hold", "score_delay_ms_holds", None),
    ("load average at the end (1, 5, 15 min)", "load_avg", None),
)


def _cell(r: LinesResult, label: str, key: str | None, fmt: str | None) -> str:
    if label.startswith("lines"):
        return f"{r.lines} × {r.rate} Hz, {'real time' if r.realtime else 'as fast as possible'}, {r.runtime} int8"
    if label.startswith("RSS while"):
        return f"{r.rss_mib_median:.0f} / {r.rss_mib_max:.0f} MiB"
    if label.startswith("scores"):
        return f"{r.scores_received} / {r.calls_expected}"
    if label.startswith("live alerts"):
        return f"{r.alerts_received} ({r.phrase_alerts_matched})"
    value = getattr(r, key)
    if isinstance(value, dict):
        return " / ".join(f"{value[k]:.0f}" for k in ("p50", "p95", "max")) + " ms"
    if isinstance(value, tuple):
        return ", ".join(f"{v:.2f}" for v in value)
    return fmt.format(value)


def cli(args) -> int:
    """`callqa bench --lines N` (edge/commands/bench.py hands its arguments here)."""
    from edge.commands.bench import machine_name

    rate = args.rate or 16000
    result = run_lines(args.lines, rate, args.calls, realtime=not args.fast, broker_url=args.broker,
                       runtime=args.runtime)
    result.machine = machine_name()
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"callqa bench --lines {args.lines} on {result.machine}")
    table.add_column("measure")
    table.add_column("value")
    for label, key, fmt in ROWS:
        table.add_row(label, _cell(result, label, key, fmt))
    Console().print(table)
    return 0
