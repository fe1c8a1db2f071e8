"""MQTT load run: N lines' worth of scores and live alerts pushed through one box as fast as
possible, received by a central-QA subscriber; reports losses, throughput and delay.

Until replayed calls drive it (`callqa bench`), the load is generated CallScores and Alerts
(edge/mqtt/synthetic.py). End-to-end delay is receipt time minus the envelope's `created`
(the moment the sink took the message), both on this machine's clock.

    python3 -m edge.mqtt.bench --broker mqtt://127.0.0.1:1883   # or --spawn-broker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import parse_config
from edge.mqtt.client import parse_broker_url
from edge.mqtt.messages import BoxId, parse_iso, validation_errors
from edge.mqtt.sink import MqttSink
from edge.mqtt.synthetic import seq_of, synthetic_alert, synthetic_score
from edge.mqtt.topics import Topics


@dataclass(frozen=True)
class LoadResult:
    lines: int
    scores_sent: int
    alerts_sent: int
    received: int  # unique msg_ids
    lost: int
    duplicates: int
    invalid: int
    out_of_order_lines: int
    wall_s: float  # first message in to last message out
    messages_per_s: float
    score_delay_ms: dict[str, float]  # p50 / p95 / max
    alert_delay_ms: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    a = np.asarray(values) * 1000.0
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "max": round(float(a.max()), 1)}


def mqtt_load_run(broker_url: str, workdir: Path, lines: int = 8, calls_per_line: int = 250,
                  alerts_per_call: int = 1, timeout_s: float = 120.0) -> LoadResult:
    line_names = [f"line{i + 1}" for i in range(lines)]
    cfg = parse_config({
        "box": {"site": "bench", "group": "g1", "id": f"bench-{uuid.uuid4().hex[:6]}", "state_dir": str(workdir)},
        "lines": [{"name": n, "source": "replay", "path": str(workdir)} for n in line_names],
        "mqtt": {"enabled": True, "url": broker_url, "reconnect_min_s": 1, "reconnect_max_s": 2},
    })
    box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
    topics = Topics(cfg.mqtt.prefix, box.site, box.group, box.id)
    received: dict[str, tuple[str, float, float, str, int]] = {}  # msg_id -> kind, created, arrived, line, seq
    duplicates = invalid = 0
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        nonlocal duplicates, invalid
        now = time.time()
        doc = json.loads(msg.payload)
        with lock:
            if doc["msg_id"] in received:
                duplicates += 1
                return
            invalid += bool(validation_errors(doc))
            body = doc["body"]
            received[doc["msg_id"]] = (doc["kind"], parse_iso(doc["created"]).timestamp(), now, body["line"],
                                       seq_of(body["call_id"]))

    address = parse_broker_url(broker_url)
    central = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-central-{uuid.uuid4().hex[:6]}",
                          protocol=MQTTProtocolVersion.MQTTv5)
    subscribed = threading.Event()
    central.on_message = on_message
    central.on_subscribe = lambda *a: subscribed.set()
    central.on_connect = lambda c, u, f, rc, p: c.subscribe([(f"{topics.box_root}/score/+", 1),
                                                            (f"{topics.box_root}/alert/+", 1)])
    central.connect(address.host, address.port)
    central.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"bench subscriber could not subscribe on {broker_url}")

    sink = MqttSink(cfg).start()
    if not sink.client.wait_connected(10):
        raise RuntimeError(f"bench box could not connect to {broker_url}")

    def replay(line: str) -> None:
        for seq in range(calls_per_line):
            for n in range(alerts_per_call):
                sink.on_alert(synthetic_alert(box, line, seq, n, severity="red" if n % 2 == 0 else "amber"))
            sink.on_score(synthetic_score(box, line, seq, alerts=alerts_per_call))

    expected = lines * calls_per_line * (1 + alerts_per_call)
    t0 = time.time()
    producers = [threading.Thread(target=replay, args=(n,)) for n in line_names]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    deadline = time.monotonic() + timeout_s
    while len(received) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    sink.close()
    central.disconnect()
    central.loop_stop()

    with lock:
        rows = list(received.values())
    last = max((r[2] for r in rows), default=t0)
    per_line: dict[tuple[str, str], list[int]] = defaultdict(list)
    for kind, _, arrived, line, seq in sorted(rows, key=lambda r: r[2]):
        per_line[(kind, line)].append(seq)
    out_of_order = sum(1 for seqs in per_line.values() if seqs != sorted(seqs))
    return LoadResult(
        lines=lines, scores_sent=lines * calls_per_line, alerts_sent=lines * calls_per_line * alerts_per_call,
        received=len(rows), lost=expected - len(rows), duplicates=duplicates, invalid=invalid,
        out_of_order_lines=out_of_order, wall_s=round(last - t0, 3),
        messages_per_s=round(len(rows) / max(last - t0, 1e-9), 1),
        score_delay_ms=_percentiles([r[2] - r[1] for r in rows if r[0] == "score"]),
        alert_delay_ms=_percentiles([r[2] - r[1] for r in rows if r[0] == "alert"]),
    )


@contextlib.contextmanager
def spawned_mosquitto(workdir: Path):
    """A throwaway local Mosquitto configured like the shipped site example (queue limits)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 200000\n"
                    f"max_inflight_messages 100\n" + ("user root\n" if hasattr(__import__("os"), "geteuid")
                                                        and __import__("os").geteuid() == 0 else ""))
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--broker", metavar="URL")
    g.add_argument("--spawn-broker", action="store_true", help="start a local mosquitto for the run")
    p.add_argument("--lines", type=int, default=8)
    p.add_argument("--calls", type=int, default=250, help="calls per line")
    p.add_argument("--alerts", type=int, default=1, help="live alerts per call")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callqa-mqtt-bench-") as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(spawned_mosquitto(Path(tmp))) if args.spawn_broker else args.broker
        r = mqtt_load_run(url, Path(tmp), args.lines, args.calls, args.alerts)
    table = Table(title=f"MQTT load: {r.lines} lines through one box, as fast as possible")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in r.to_dict().items():
        table.add_row(k, str(v))
    Console().print(table)
    return 0 if r.lost == 0 and r.out_of_order_lines == 0 and r.invalid == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
