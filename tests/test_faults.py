"""Faults end to end: a real Mosquitto (persistence on, started by the test), the real box
(`callqa run`, a replay line over a folder of generated calls played as fast as it can,
`mqtt.receipt_timeout_s = 3`) and the real store (`callqa-central store` into SQLite). Each
case breaks one thing while the box replays and ends with every generated call's score in the
store exactly once.

The truth: each generated file is one call (polite, fast and raised-voice calls, no dead air
long enough to split one), so a folder of N files gives N CallScores. The box prints each score (and alert)
on stdout before it puts it in its outbox; the store must hold exactly those call_ids, each in
one row (by call_id and by msg_id), and every number of the box's count (`seq`, scores and
alerts) from 1 to the last, so its report shows no gap. The box itself exits only once
central QA has receipted everything (mqtt.drain_s), and says so.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from scipy.io import wavfile

from callqa_central.db import open_database
from callqa_central.periods import parse_period, zone
from callqa_central.queries import build_report
from callqa_lab.gencall import generate_call
from tests.broker import Broker
from tests.storeproc import StoreProcess, wait_for_count

SCENARIOS = ("polite", "fast", "raised_voice", "polite", "fast", "polite")  # 14-35 s, one call each; alerts in one
ALL_RECEIPTED = "every score and alert is receipted by central QA"


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("calls")
    files = []
    for i, name in enumerate(SCENARIOS):
        files.append(folder / f"{i:02d}-{name}.wav")
        wavfile.write(files[-1], 8000, generate_call(name, 8000, seed=100 + i)[0])
    return files


def folder_of(path: Path, files: list[Path]) -> Path:
    path.mkdir()
    for f in files:
        shutil.copy(f, path / f.name)
    return path


class ReplayBox:
    """`callqa run` replaying a folder, as a child process: what it printed (scores, alerts),
    its log, its outbox. Started again, it keeps its state (outbox) and may replay another folder."""

    def __init__(self, tmp_path: Path, broker_url: str):
        self.dir = tmp_path
        self.broker_url = broker_url
        self.outbox = tmp_path / "box-state" / "outbox.sqlite"
        self.scored: list[str] = []  # call_ids, in the order printed
        self.alerts = 0
        self.proc: subprocess.Popen | None = None
        self._printed = threading.Condition()
        self._log = tmp_path / "box.log"

    def start(self, folder: Path, drain_s: float = 90) -> "ReplayBox":
        config = self.dir / "box.toml"
        config.write_text(f"""
[box]
site = "s1"
group = "g1"
id = "box1"
state_dir = "{self.outbox.parent}"
[audio]
sample_rate = 8000
[ops]
metrics_port = 0
[mqtt]
enabled = true
url = "{self.broker_url}"
receipt_timeout_s = 3
drain_s = {drain_s}
reconnect_max_s = 2
[[lines]]
name = "desk1"
source = "replay"
path = "{folder}"
realtime = false
""")
        with open(self._log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)],
                                         stdout=subprocess.PIPE, stderr=log, text=True)
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        return self

    def _pump(self, stdout) -> None:
        for line in stdout:
            doc = json.loads(line)
            with self._printed:
                if "alert" in doc:
                    self.alerts += 1
                else:
                    self.scored.append(doc["call_id"])
                self._printed.notify_all()

    @property
    def messages(self) -> int:
        return len(self.scored) + self.alerts

    def wait_scored(self, n: int, timeout: float = 60) -> None:
        with self._printed:
            assert self._printed.wait_for(lambda: len(self.scored) >= n, timeout), \
                f"the box printed {len(self.scored)} of {n} scores:\n{self.log()}"

    def wait_exit(self, timeout: float = 90) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the box did not exit within {timeout} s:\n{self.log()}") from None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def log(self) -> str:
        return self._log.read_text()


@dataclass
class Rig:
    broker: Broker
    store: StoreProcess
    box: ReplayBox
    db: str
    calls: list[Path]

    def replay_all(self) -> None:
        self.box.start(folder_of(self.box.dir / "calls", self.calls))

    def ends_with_every_call_stored_once(self) -> None:
        """The box exits with everything receipted; the store holds each of its calls once."""
        assert self.box.wait_exit() == 0, self.box.log()
        assert ALL_RECEIPTED in self.box.log()
        assert len(set(self.box.scored)) == len(self.box.scored) == len(self.calls)
        assert_stored_once(self.db, self.box.scored, self.box.messages)
        assert count_alerts(self.db) == self.box.alerts


def assert_stored_once(db_url: str, call_ids: list[str], messages: int | None = None) -> None:
    """Each call in one row (by call_id and by msg_id), no other; the box's count 1..last all arrived."""
    db = open_database(db_url)
    try:
        rows = db.rows("SELECT call_id, msg_id FROM calls")
        numbers, first, last, epochs = db.rows("SELECT COUNT(*), MIN(n), MAX(n), COUNT(DISTINCT epoch) FROM sequence")[0]
    finally:
        db.close()
    assert sorted(c for c, _ in rows) == sorted(call_ids)
    assert len({m for _, m in rows}) == len(rows)
    assert (first, numbers, epochs) == (1, last, 1), "a number of the box's count never arrived"
    if messages is not None:
        assert last == messages


def count_alerts(db_url: str) -> int:
    db = open_database(db_url)
    try:
        return db.rows("SELECT COUNT(*) FROM alerts")[0][0]
    finally:
        db.close()


@pytest.fixture
def rig(tmp_path, broker, calls):
    db = f"sqlite://{tmp_path}/store.sqlite"
    store = StoreProcess(broker.url, db, "store-1", tmp_path).start()
    box = ReplayBox(tmp_path, broker.url)
    try:
        yield Rig(broker, store, box, db, calls)
    finally:
        box.close()
        store.stop()


def test_broker_restarted_while_the_store_is_up(rig):
    rig.replay_all()
    rig.box.wait_scored(2)
    rig.broker.stop()
    time.sleep(1)
    rig.broker.start()
    rig.ends_with_every_call_stored_once()


def test_broker_restarted_while_the_store_is_down(rig):
    """Mosquitto 2.0 does not restore the store's $share subscription: what the box publishes
    until the store is back has no subscriber, and only the missing receipts bring it back."""
    rig.replay_all()
    rig.box.wait_scored(2)
    rig.store.stop()
    rig.broker.stop()
    rig.broker.start()
    rig.box.wait_scored(4)
    rig.store.start()
    rig.ends_with_every_call_stored_once()


def test_broker_killed_and_restarted_from_its_persistence(rig):
    rig.replay_all()
    rig.box.wait_scored(2)
    rig.broker.kill()
    rig.broker.start()
    rig.ends_with_every_call_stored_once()


def test_broker_restarted_without_persistence(rig, tmp_path):
    """A fresh broker on the same port: no sessions, no queued messages. What the old broker
    had acknowledged but the store had not committed comes back because no receipt came."""
    rig.replay_all()
    rig.box.wait_scored(2)
    rig.broker.stop()
    fresh = Broker(tmp_path / "fresh-broker", port=rig.broker.port).start()
    try:
        rig.ends_with_every_call_stored_once()
    finally:
        fresh.stop()


def test_box_killed_mid_run_and_started_again(rig):
    """A box restarted after `kill -9` sends what its outbox holds. Its replay line does not
    know what it had played, so (like an operator) the test replays only the files it has no
    score for. Those the first run scored: the store's calls and the outbox's scores, read once
    the box is dead (a score leaves the outbox only after the store committed it). Every score
    the box printed is among them (the outbox is its first sink); one more may be, put in the
    outbox just before the kill and never printed. The end: N calls, once each, every score
    printed by either run among them, and the box's count without a hole."""
    rig.replay_all()
    rig.box.wait_scored(3)
    rig.box.kill()
    printed = list(rig.box.scored)
    first_run = outbox_call_ids(rig.box.outbox) | stored_call_ids(rig.db)
    assert set(printed) <= first_run and len(first_run) <= len(printed) + 1
    assert len(first_run) < len(rig.calls), "the box finished before it was killed"
    rest = folder_of(rig.box.dir / "rest", rig.calls[len(first_run):])
    rig.box.scored = sorted(first_run)
    rig.box.start(rest)
    assert rig.box.wait_exit() == 0, rig.box.log()
    assert ALL_RECEIPTED in rig.box.log()
    assert len(set(rig.box.scored)) == len(rig.box.scored) == len(rig.calls)
    assert_stored_once(rig.db, rig.box.scored)


def outbox_call_ids(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        docs = [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox")]
    finally:
        db.close()
    return {d["body"]["call_id"] for d in docs if d["kind"] == "score"}


def stored_call_ids(db_url: str) -> set[str]:
    db = open_database(db_url)
    try:
        return {c for (c,) in db.rows("SELECT call_id FROM calls")}
    finally:
        db.close()


def test_store_killed_mid_ingest_and_restarted(rig):
    rig.replay_all()
    assert wait_for_count(rig.db, "SELECT COUNT(*) FROM calls", 2) >= 2
    rig.store.kill()
    rig.box.wait_scored(4)
    rig.store.start()
    rig.ends_with_every_call_stored_once()


def test_broker_down_for_longer_than_the_replay(rig):
    """The box finishes its replay with the broker away and waits (mqtt.drain_s) instead of
    exiting; the broker comes back and the box delivers everything, then exits."""
    rig.replay_all()
    rig.box.wait_scored(1)
    rig.broker.stop()
    rig.box.wait_scored(len(rig.calls))
    deadline = time.monotonic() + 30
    while "mqtt.drain_s" not in rig.box.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    assert rig.box.proc.poll() is None, rig.box.log()
    rig.broker.start()
    rig.ends_with_every_call_stored_once()


def test_a_replay_box_names_what_it_could_not_deliver_and_a_removed_message_is_a_gap_of_one(tmp_path, broker, calls):
    """No store: the box waits its short mqtt.drain_s and exits saying how many messages stay
    in its outbox. One of them is then deleted on purpose; with the store running, the box's
    next start delivers the rest, and the store's report shows exactly one number missing."""
    box = ReplayBox(tmp_path, broker.url)
    box.start(folder_of(tmp_path / "first", calls[:2]), drain_s=2)
    assert box.wait_exit() == 0, box.log()
    assert box.messages >= 2
    assert (f"{box.messages} message(s) (scores, alerts) not yet receipted by central QA stay in the outbox "
            f"{box.outbox}; they go out on the next start") in box.log()
    with sqlite3.connect(box.outbox) as outbox:
        assert outbox.execute("DELETE FROM outbox WHERE seq = 2").rowcount == 1
    db = f"sqlite://{tmp_path}/store.sqlite"
    store = StoreProcess(broker.url, db, "store-1", tmp_path).start()
    try:
        box.start(folder_of(tmp_path / "second", calls[2:3]))
        assert box.wait_exit() == 0, box.log()
        assert ALL_RECEIPTED in box.log()
    finally:
        store.stop()
        box.close()
    now = datetime.now(timezone.utc)
    database = open_database(db)
    try:
        report = build_report(database, parse_period("daily", now.strftime("%Y-%m-%d"), zone("UTC")),
                              missing_after_s=0, at=now + timedelta(seconds=1))
    finally:
        database.close()
    assert [(r.box, r.count, r.numbers) for r in report.missing] == [("box1", 1, "2")]
