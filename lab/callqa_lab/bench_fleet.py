"""Fleet bench for the central QA store: `python3 -m callqa_lab.bench_fleet`.

500 simulated boxes, each on its own MQTT connection to a real Mosquitto, publish their retained
status every `status_interval_s` (shortened, default 2 s against a box's 60 s) and their lines'
scores, into a real `callqa-central store` writing a throwaway PostgreSQL (fsync on). Measured
from the database: statuses and scores committed per second (first to last received), none
lost (every msg_id published is there once), and each box's current state is its newest status.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path

import paho.mqtt.client as mqtt

from callqa_central.db import open_database
from callqa_contract.broker import parse_broker_url
from callqa_lab.bench_store import postgres_skip_reason
from callqa_lab.simulate import make_callscore, score_message, status_message
from callqa_lab.testbroker import Broker, mosquitto_binary
from callqa_lab.testdb import PostgresCluster, postgres_bin
from callqa_lab.testproc import StoreProcess

SITE = "s1"


class SimulatedBox:
    """One box's connection: its status on the interval, its scores spread between them."""

    def __init__(self, broker_url: str, n: int, lines: int):
        self.group, self.box = f"g{n % 25}", f"box{n:03d}"
        self.lines = tuple(f"l{i + 1}" for i in range(lines))
        self.started = datetime.now(timezone.utc)
        self.published: dict[str, set[str]] = {"status": set(), "score": set()}
        self.last_status: str | None = None  # created of the newest status published
        self.infos: list[mqtt.MQTTMessageInfo] = []
        address = parse_broker_url(broker_url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{self.box}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def status(self) -> None:
        now = datetime.now(timezone.utc)
        topic, payload = status_message(SITE, self.group, self.box, "online", now, (self.started, self.started),
                                        self.lines)
        self._publish("status", topic, payload, retain=True)
        self.last_status = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def score(self, k: int) -> None:
        line = self.lines[k % len(self.lines)]
        start = self.started - timedelta(hours=1) + timedelta(seconds=k)
        self._publish("score", *score_message(make_callscore(SITE, self.group, self.box, line, start, k)))

    def _publish(self, kind: str, topic: str, payload: bytes, retain: bool = False) -> None:
        self.published[kind].add(json.loads(payload)["msg_id"])
        self.infos.append(self.client.publish(topic, payload, qos=1, retain=retain))

    def close(self, timeout_s: float) -> bool:
        """Wait for the broker's PUBACKs, then disconnect; whether all came."""
        deadline = time.monotonic() + timeout_s
        for info in self.infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        acked = all(info.is_published() for info in self.infos)
        self.client.disconnect()
        self.client.loop_stop()
        return acked


def _stored(db_url: str, sql: str) -> list[tuple]:
    db = open_database(db_url)
    try:
        return db.rows(sql)
    except db.missing_table_errors:
        return []
    finally:
        db.close()


def _count(db_url: str, table: str) -> int:
    rows = _stored(db_url, f"SELECT COUNT(*) FROM {table}")
    return rows[0][0] if rows else 0


class CommitWatch:
    """Polls the committed row counts while the boxes publish: commits, not receipts, are what a
    store sustains (its network thread may take messages in faster than they are written)."""

    def __init__(self, db_url: str, expected: dict[str, int]):
        self.db_url, self.expected = db_url, expected
        self.seen: dict[str, list[tuple[float, int]]] = {table: [] for table in expected}
        self.stop = threading.Event()
        self.done_at: float | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            counts = {table: _count(self.db_url, table) for table in self.expected}
            for table, n in counts.items():
                if n and (not self.seen[table] or n > self.seen[table][-1][1]):
                    self.seen[table].append((now, n))
            if all(counts[t] >= n for t, n in self.expected.items()):
                self.done_at = now
                return
            time.sleep(0.1)

    def rate(self, table: str) -> int | None:
        """Rows per second from the first commit seen to the last."""
        seen = self.seen[table]
        if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
            return None
        return round((seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]))


def publish_boxes(broker_url: str, first: int, count: int, lines: int, rounds: int, interval_s: float,
                  scores_per_line: int) -> dict:
    """Boxes first..first+count-1 for `rounds` status intervals, in this process (paho's select()
    loop cannot take descriptors past 1024, so a few hundred connections per process at most)."""
    fleet = [SimulatedBox(broker_url, n, lines) for n in range(first, first + count)]
    scores_each = lines * scores_per_line
    t0 = time.monotonic()
    for r in range(rounds):
        for box in fleet:
            box.status()
            for k in range(r * scores_each // rounds, (r + 1) * scores_each // rounds):
                box.score(k)
        time.sleep(max(0.0, t0 + (r + 1) * interval_s - time.monotonic()))
    publish_s = time.monotonic() - t0
    return {"acked": all([box.close(60) for box in fleet]), "publish_s": publish_s,
            "status": set().union(*(b.published["status"] for b in fleet)),
            "score": set().union(*(b.published["score"] for b in fleet)),
            "newest": {(b.group, b.box): b.last_status for b in fleet}}


def run_fleet(boxes: int = 500, lines: int = 8, seconds: float = 10.0, interval_s: float = 2.0,
              scores_per_line: int = 1, batch: int = 500, per_process: int = 125) -> dict:
    """One run; the figures and whether nothing was lost."""
    rounds = max(1, round(seconds / interval_s))
    with tempfile.TemporaryDirectory(prefix="callqa-fleet-bench-") as tmp:
        work = Path(tmp)
        cluster = PostgresCluster(postgres_bin(), fsync=True).start()
        try:
            db_url = cluster.new_database()
            with Broker(work / "broker", extra_conf="max_queued_messages 0\n") as broker:
                store = StoreProcess(broker.url, db_url, "bench-fleet", work, sites=(SITE,), batch=batch,
                                     extra=("--no-fleet-alerts",)).start()
                expected = {"box_status": boxes * rounds, "calls": boxes * lines * scores_per_line}
                watch = CommitWatch(db_url, expected)
                watcher = threading.Thread(target=watch.run, daemon=True)
                watcher.start()
                try:
                    with ProcessPoolExecutor(-(-boxes // per_process), mp_context=get_context("spawn")) as pool:
                        parts = list(pool.map(publish_boxes, *zip(*[
                            (broker.url, first, min(per_process, boxes - first), lines, rounds, interval_s,
                             scores_per_line) for first in range(0, boxes, per_process)])))
                    published_at = time.monotonic()
                    watcher.join(300)
                finally:
                    watch.stop.set()
                    store.stop()
            got_status = {r[0] for r in _stored(db_url, "SELECT msg_id FROM box_status")}
            got_score = {r[0] for r in _stored(db_url, "SELECT msg_id FROM calls")}
            current = {(g, b): created for g, b, created in _stored(db_url, "SELECT grp, box, created_utc FROM boxes")}
        finally:
            cluster.stop()
    statuses = set().union(*(p["status"] for p in parts))
    scores = set().union(*(p["score"] for p in parts))
    newest = {k: v for p in parts for k, v in p["newest"].items()}
    publish_s = max(p["publish_s"] for p in parts)
    result = {
        "boxes": boxes, "lines": lines, "status_interval_s": interval_s, "publish_s": round(publish_s, 1),
        "statuses": len(statuses), "statuses_lost": len(statuses - got_status),
        "status_offered_per_s": round(len(statuses) / publish_s),
        "status_per_s": watch.rate("box_status"),
        "scores": len(scores), "scores_lost": len(scores - got_score),
        "score_offered_per_s": round(len(scores) / publish_s),
        "score_per_s": watch.rate("calls"),
        "stored_s_after_publishing": round(max(0.0, (watch.done_at or time.monotonic()) - published_at), 1),
        "boxes_stored": len(current), "boxes_not_newest": sum(current.get(k) != v for k, v in newest.items()),
        "broker_acked_all": all(p["acked"] for p in parts),
    }
    result["ok"] = (result["broker_acked_all"] and not result["statuses_lost"] and not result["scores_lost"]
                    and len(current) == boxes and not result["boxes_not_newest"])
    return result


def skip_reason() -> str | None:
    if mosquitto_binary() is None:
        return "mosquitto is not installed (Debian package 'mosquitto')"
    return postgres_skip_reason()


def bench_section(ctx) -> list:
    """`callqa bench`: 500 boxes x 8 lines, status every 2 s for 10 s, a score per line, into PostgreSQL."""
    from edge.bench import Measure, skipped

    if why := skip_reason():
        return [skipped("fleet", why)]
    r = run_fleet()
    verdict = "ok" if r["ok"] else "FAILED"
    return [
        Measure("fleet", f"status ingest, {r['boxes']} boxes every {r['status_interval_s']:g} s ({verdict}, "
                         f"lost {r['statuses_lost']}, {r['boxes_not_newest']} boxes not at their newest)",
                float(r["status_per_s"] or 0), "msg/s", f"{r['statuses']} statuses, {r['status_offered_per_s']}/s offered"),
        Measure("fleet", f"score ingest beside them ({verdict}, lost {r['scores_lost']}; all stored "
                         f"{r['stored_s_after_publishing']:g} s after the boxes stopped)",
                float(r["score_per_s"] or 0), "msg/s", f"{r['scores']} scores, {r['score_offered_per_s']}/s offered"),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m callqa_lab.bench_fleet", description=__doc__.splitlines()[0])
    p.add_argument("--boxes", type=int, default=500)
    p.add_argument("--lines", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0, help="how long the boxes publish")
    p.add_argument("--interval", type=float, default=2.0, help="each box's status interval, s")
    p.add_argument("--scores-per-line", type=int, default=1)
    p.add_argument("--batch", type=int, default=500, help="the store's --batch")
    args = p.parse_args(argv)
    if why := skip_reason():
        print(f"skipped: {why}")
        return 0
    results = {"machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
               "cpus": os.cpu_count(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
               "load_average_before": round(os.getloadavg()[0], 1),
               **run_fleet(args.boxes, args.lines, args.seconds, args.interval, args.scores_per_line, args.batch)}
    print(json.dumps(results, indent=2))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
