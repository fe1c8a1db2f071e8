"""What the store accepts and refuses, message by message, and the database layout it keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from callqa_central.consumer import broker_address, subscriptions
from callqa_central.db import migrations, open_database
from callqa_central.errors import ConfigError
from callqa_contract.broker import BrokerAddress
from callqa_lab.simulate import alert_message, make_callscore, score_message
from callqa_central.validate import Accepted, Rejected, check_message
from callqa_central.writer import score_rows
from tests.postgres import postgres_cluster  # noqa: F401 - fixture

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=timezone.utc)
PREFIX = "callqa/v1"


def test_a_valid_score_and_its_alert_are_accepted_with_normalised_times():
    score = make_callscore("s1", "g1", "box1", "l1", T0, 1, frozenset({"insult"}))
    topic, payload = score_message(score)
    accepted = check_message(topic, payload, PREFIX)
    assert isinstance(accepted, Accepted)
    t = accepted.topic
    assert (t.kind, t.site, t.group, t.box, t.line) == ("score", "s1", "g1", "box1", "l1")
    (*_, created, _received, _body), _failed = score_rows(accepted, "2025-06-02T01:05:00.000000Z")
    assert created.endswith("Z") and len(created) == len("2025-06-02T01:00:00.000000Z")
    topic, payload = alert_message(score["alerts"][0], "s1", "g1", "box1")
    assert isinstance(check_message(topic, payload, PREFIX), Accepted)


def test_messages_that_contradict_their_topic_or_themselves_are_refused_with_the_reason():
    score = make_callscore("s1", "g1", "box1", "l1", T0, 1, frozenset({"greeting"}))
    topic, payload = score_message(score)
    doc = json.loads(payload)
    doc["body"]["items"].append(dict(doc["body"]["items"][0]))
    cases = {
        "outside prefix 'callqa/v1'": ("other/s1/g1/box1/score/l1", payload),
        "is not <prefix>/<site>/<group>/<box>/score|alert/<line>": ("callqa/v1/s1/g1/box1/light", payload),
        "envelope kind 'score' on a 'status' topic": ("callqa/v1/s1/g1/box1/status", payload),
        "differs from the topic's line 'l2'": (topic[:-2] + "l2", payload),
        "repeats rubric item ids ['greeting']": (topic, json.dumps(doc).encode()),
    }
    alert_topic, alert_payload = alert_message(
        {"alert_id": "a1", "line": "l1", "call_id": "c1", "item": "x", "severity": "purple", "reason": "r", "t": 1.0,
         "evidence": {}}, "s1", "g1", "box1")
    cases["severity: 'purple' is not one of"] = (alert_topic, alert_payload)
    for expected, (t, p) in cases.items():
        result = check_message(t, p, PREFIX)
        assert isinstance(result, Rejected) and expected in result.reason, (expected, result)


def columns(db_url: str) -> dict[str, list[str]]:
    db = open_database(db_url)
    try:
        if db.dialect == "sqlite":
            tables = [r[0] for r in db.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            return {t: [r[1] for r in db.rows(f"PRAGMA table_info({t})")] for t in tables}
        rows = db.rows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
                       " ORDER BY table_name, ordinal_position")
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(table, []).append(column)
        return out
    finally:
        db.close()


def test_sqlite_and_postgresql_get_the_same_tables_and_each_migration_once(tmp_path, postgres_cluster):
    urls = [f"sqlite://{tmp_path}/s.sqlite", postgres_cluster.new_database()]
    for url in urls:
        db = open_database(url)
        assert db.migrate() == [name for _, name, _ in migrations()]
        assert db.migrate() == []  # a second store process (or restart) applies nothing again
        assert db.applied_migrations() == [v for v, _, _ in migrations()]
        db.close()
    sqlite_cols, pg_cols = (columns(u) for u in urls)
    assert sqlite_cols == pg_cols
    assert {"calls", "failed_items", "alerts", "quarantine", "schema_migrations"} <= set(sqlite_cols)


def test_store_refuses_bad_arguments_with_a_clear_message(tmp_path):
    def store(*args):
        return subprocess.run([sys.executable, "-m", "callqa_central", "store", *args], capture_output=True, text=True, timeout=60)

    bad_broker = store("--broker", "http://x", "--site", "s1", "--db", f"sqlite://{tmp_path}/a.sqlite")
    bad_db = store("--broker", "mqtt://127.0.0.1:1", "--site", "s1", "--db", "mysql://x/y")
    bad_site = store("--broker", "mqtt://127.0.0.1:1", "--site", "s/1", "--db", f"sqlite://{tmp_path}/a.sqlite")
    for proc, words in ((bad_broker, "expected mqtt://HOST"), (bad_db, "unknown database kind 'mysql'"),
                        (bad_site, "--site 's/1'")):
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_store_subscribes_to_scores_and_alerts_of_its_sites_on_a_shared_subscription():
    assert subscriptions("callqa/v1", ("s1", "s2"), "central-qa") == [
        "$share/central-qa/callqa/v1/s1/+/+/score/+", "$share/central-qa/callqa/v1/s1/+/+/alert/+",
        "$share/central-qa/callqa/v1/s2/+/+/score/+", "$share/central-qa/callqa/v1/s2/+/+/alert/+",
        # Retained statuses are not delivered on $share subscriptions: every store process reads them all.
        "callqa/v1/s1/+/+/status", "callqa/v1/s2/+/+/status",
    ]


def test_store_reads_broker_urls_as_the_box_does():
    assert broker_address("ssl://qa:secret@broker.site") == BrokerAddress("broker.site", 8883, True, "qa", "secret")
    assert broker_address("tcp://broker.site:1884") == BrokerAddress("broker.site", 1884, False)
    with pytest.raises(ConfigError, match=r"^--broker mqtt://qa:\*\*\*@broker:x: the port is not a number$"):
        broker_address("mqtt://qa:secret@broker:x")
