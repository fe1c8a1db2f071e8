"""Ingest bench for the central QA store: `python3 -m callqa_lab.bench_store`.

Uses a real Mosquitto and, for PostgreSQL, a throwaway local cluster (edge/mqtt/testbroker.py
and callqa_lab/testdb.py start them), and real `callqa-central store` processes:

- sustained rate: N scores are queued on the broker for a store's persistent session while it
  is stopped, then the store is started and drains them; the rate is measured between the
  first and last row's receive time, so process start-up does not count.
- burst: 200 simulated boxes, each on its own connection, publish at once into two store
  processes on one shared subscription; every msg_id must be stored exactly once.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callqa_lab.testbroker import Broker, mosquitto_binary
from callqa_central.db import open_database
from callqa_lab.simulate import make_callscore, publish_from_boxes, score_message
from callqa_lab.testdb import PostgresCluster, postgres_bin
from callqa_lab.testproc import StoreProcess

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=timezone.utc)


def messages(boxes: int, per_box: int) -> dict[str, list[tuple[str, bytes]]]:
    out = {}
    for b in range(boxes):
        box = f"box{b:03d}"
        out[box] = [score_message(make_callscore("s1", f"g{b % 8}", box, "l1", T0 + timedelta(minutes=3 * k), k,
                                                 frozenset({"greeting"} if k % 3 == 0 else ())))
                    for k in range(per_box)]
    return out


def stored_counts(db_url: str) -> tuple[int, int]:
    db = open_database(db_url)
    try:
        return tuple(db.rows("SELECT COUNT(*), COUNT(DISTINCT msg_id) FROM calls")[0])
    except db.missing_table_errors:
        return 0, 0
    finally:
        db.close()


def watch_commits(db_url: str, n: int, timeout_s: float = 600) -> tuple[int, float]:
    """Poll the committed row count until it reaches n: (rows committed while watched, seconds
    from the first commit seen to the last). Commits, not receipts, are what a store sustains."""
    first_t, first_n = None, 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows, _ = stored_counts(db_url)
        now = time.monotonic()
        if rows and first_t is None:
            first_t, first_n = now, rows
        if rows >= n:
            return rows - first_n, now - first_t
        time.sleep(0.02)
    raise TimeoutError(f"only {rows} of {n} stored after {timeout_s}s")


def rate(rows: int, seconds: float) -> int | None:
    return round(rows / seconds) if seconds > 0 else None


def sustained(broker_url: str, db_url: str, n: int, batch: int, workdir: Path) -> dict:
    store = StoreProcess(broker_url, db_url, "bench-sustained", workdir, batch=batch).start()
    store.stop()  # session and subscription now exist on the broker; the backlog queues there
    publish_from_boxes(broker_url, messages(boxes=20, per_box=n // 20))
    store.start()
    watched, span = watch_commits(db_url, n)
    store.stop()
    rows, distinct = stored_counts(db_url)
    return {"messages": n, "stored": rows, "distinct": distinct, "seconds": round(span, 2),
            "msgs_per_s": rate(watched, span), "ok": rows == distinct == n}


def burst(broker_url: str, db_url: str, boxes: int, per_box: int, batch: int, workdir: Path) -> dict:
    n = boxes * per_box
    stores = [StoreProcess(broker_url, db_url, f"bench-burst-{i}", workdir, batch=batch).start() for i in range(2)]
    published = messages(boxes, per_box)
    t = time.monotonic()
    publisher = threading.Thread(target=publish_from_boxes, args=(broker_url, published))
    publisher.start()
    watched, span = watch_commits(db_url, n)
    publisher.join()
    publish_s = time.monotonic() - t
    for s in stores:
        s.stop()
    shares = [int(s.log().rsplit("stopped: ", 1)[1].split()[0]) for s in stores]
    rows, distinct = stored_counts(db_url)
    expected = {json.loads(p)["msg_id"] for msgs in published.values() for _, p in msgs}
    db = open_database(db_url)
    try:
        got = {r[0] for r in db.rows("SELECT msg_id FROM calls")}
    finally:
        db.close()
    return {"boxes": boxes, "messages": n, "stored": rows, "lost": len(expected - got),
            "duplicated": rows - distinct, "per_process": shares, "publish_s": round(publish_s, 2),
            "seconds": round(span, 2), "msgs_per_s": rate(watched, span),
            "ok": rows == distinct == n and expected == got}


def run_all(messages_n: int, boxes: int, per_box: int, batch: int, postgres: bool,
            report=lambda kind, results: None) -> dict:
    """Sustained and burst runs into SQLite and, when `postgres` and it is installed, PostgreSQL."""
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="callqa-store-bench-") as tmp:
        work = Path(tmp)
        cluster = None
        if postgres and postgres_skip_reason() is None:
            cluster = PostgresCluster(postgres_bin(), fsync=True).start()  # durable, like SQLite's FULL
        try:
            dbs = {"sqlite": lambda name: f"sqlite://{work}/{name}.sqlite"}
            if cluster:
                dbs["postgresql"] = lambda name: cluster.new_database()
            for kind, make in dbs.items():
                with Broker(work / f"broker-{kind}", extra_conf="max_queued_messages 0\n") as broker:
                    results[f"{kind}_sustained_1_process"] = sustained(broker.url, make("sustained"), messages_n,
                                                                       batch, work)
                with Broker(work / f"broker-{kind}-burst", extra_conf="max_queued_messages 0\n") as broker:
                    results[f"{kind}_burst_2_processes"] = burst(broker.url, make("burst"), boxes, per_box,
                                                                 batch, work)
                report(kind, results)
        finally:
            if cluster:
                cluster.stop()
    return results


def postgres_skip_reason() -> str | None:
    """Why the PostgreSQL runs cannot happen here, or None when they can."""
    if postgres_bin() is None:
        return "initdb/postgres not found (Debian package 'postgresql')"
    if importlib.util.find_spec("psycopg") is None:
        return "the psycopg driver is not installed (pip install 'callqa-edge[store]')"
    return None


def bench_section(ctx) -> list:
    """`callqa bench`: a smaller ingest run (2 000 scores sustained, 50 boxes x 10 burst)."""
    from edge.bench import Measure, skipped

    if mosquitto_binary() is None:
        return [skipped("store", "mosquitto is not installed (Debian package 'mosquitto')")]
    out = []
    skip_postgres = postgres_skip_reason()
    if skip_postgres:
        out.append(Measure("store", f"PostgreSQL skipped: {skip_postgres}", float("nan"), "-"))
    for name, r in run_all(2000, 50, 10, 500, not skip_postgres).items():
        kind, run = name.split("_", 1)
        lost = f", lost {r['lost']}, duplicated {r['duplicated']}" if "lost" in r else ""
        out.append(Measure("store", f"{kind}: {run.replace('_', ' ')} ({'ok' if r['ok'] else 'FAILED'}{lost})",
                           float(r["msgs_per_s"] or 0), "msg/s", f"{r['stored']} of {r['messages']} stored"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m callqa_lab.bench_store", description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=5000, help="scores for the sustained-rate runs")
    p.add_argument("--boxes", type=int, default=200)
    p.add_argument("--per-box", type=int, default=25, help="scores each box publishes in the burst")
    p.add_argument("--batch", type=int, default=500, help="the store's --batch")
    p.add_argument("--no-postgres", action="store_true")
    args = p.parse_args(argv)
    results = {"machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
               "cpus": __import__("os").cpu_count(), "batch": args.batch}
    results |= run_all(args.messages, args.boxes, args.per_box, args.batch, not args.no_postgres,
                       lambda kind, res: print(json.dumps({k: v for k, v in res.items() if k.startswith(kind)}),
                                               flush=True))
    print(json.dumps(results, indent=2))
    return 0 if all(v.get("ok", True) for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
