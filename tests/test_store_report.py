"""`callqa-central report`: daily, weekly and monthly views over a store whose every call is known,
with pass rates checked against a count done by hand, in the centre's time zone (UTC+8)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callqa_central.db import open_database
from callqa_central.periods import parse_period
from callqa_central.queries import Scope, build_report
from callqa_lab.simulate import make_callscore, score_message
from callqa_central.writer import Received, StoreWriter
from tests.postgres import postgres_cluster  # noqa: F401 - fixture
from tests.storeproc import noon_zone
from tests.tools import require

TZ = ZoneInfo("Asia/Shanghai")

# (local time, site, group, box, failed items). Sample rubric: 85 points, pass mark 68, insult fatal;
# greeting/closing 5, fillers 3 (C: < 10 points), dead_air/forbidden_phrase 10 (B), insult (A).
CALLS = [
    # May 2025 (previous month); 05-28 and 05-31 are also in the previous week W22.
    ("2025-05-28 10:00", "s1", "g2", "box2", {"insult"}),                          # fail
    ("2025-05-28 11:00", "s1", "g2", "box2", set()),                               # pass
    ("2025-05-31 23:50", "s1", "g1", "box1", set()),                               # pass (UTC: 05-31 15:50)
    # 2025-06-01: the day before the daily report's day, still week W22.
    ("2025-06-01 09:00", "s1", "g1", "box1", set()),                               # pass
    ("2025-06-01 10:00", "s1", "g1", "box1", set()),                               # pass
    # 2025-06-02, the daily report's day (week W23).
    ("2025-06-02 07:00", "s1", "g1", "box1", set()),                               # pass (UTC: 06-01 23:00)
    ("2025-06-02 09:00", "s1", "g1", "box1", {"greeting"}),                        # pass, 80/85, C
    ("2025-06-02 10:00", "s1", "g1", "box1", {"insult"}),                          # FAIL fatal, A
    ("2025-06-02 23:59", "s1", "g1", "box1", {"dead_air"}),                        # pass, 75/85, B
    ("2025-06-02 11:00", "s1", "g2", "box2", set()),                               # pass
    ("2025-06-02 12:00", "s1", "g2", "box2", {"forbidden_phrase", "dead_air", "fillers"}),  # fail 62/85: B B C
    # rest of W23
    ("2025-06-03 00:30", "s1", "g1", "box1", set()),                               # pass (UTC: 06-02 16:30)
    ("2025-06-05 10:00", "s2", "g1", "box3", set()),                               # pass
    ("2025-06-05 11:00", "s2", "g1", "box3", set()),                               # pass
    ("2025-06-05 12:00", "s2", "g1", "box3", {"closing"}),                         # pass, C
    # end of June / start of July
    ("2025-06-30 23:30", "s1", "g1", "box1", {"insult"}),                          # fail (June)
    ("2025-07-01 00:10", "s1", "g1", "box1", set()),                               # July: in no report below
]


def fill(db_url: str) -> None:
    db = open_database(db_url)
    db.migrate()
    writer = StoreWriter(db, "callqa/v1")
    batch = []
    for seq, (local, site, group, box, failed) in enumerate(CALLS):
        start = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
        topic, payload = score_message(make_callscore(site, group, box, "l1", start, seq, frozenset(failed)))
        batch.append(Received(topic, payload, "2025-07-02T00:00:00.000000Z"))
    assert writer.write(batch).stored == len(CALLS)
    db.close()


@pytest.fixture
def sqlite_store(tmp_path):
    url = f"sqlite://{tmp_path}/store.sqlite"
    fill(url)
    return url


def report(db_url: str, kind: str, value: str, scope: Scope = Scope()):
    db = open_database(db_url)
    try:
        return build_report(db, parse_period(kind, value, TZ), scope)
    finally:
        db.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callqa_central", "report", *args], capture_output=True, text=True, timeout=120)


def csv_rows(db_url: str, kind: str, flag: str, value: str) -> list[dict]:
    proc = cli(kind, "--db", db_url, flag, value, "--tz", "Asia/Shanghai", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def test_daily_report_lists_every_call_of_the_local_day_with_failed_items_and_alerts(sqlite_store):
    rows = csv_rows(sqlite_store, "daily", "--date", "2025-06-02")
    # 06-02 07:00 local is 06-01 in UTC but belongs here; 06-03 00:30 local does not.
    assert sorted(r["start_local"][11:16] for r in rows) == ["07:00", "09:00", "10:00", "11:00", "12:00", "23:59"]
    insult = next(r for r in rows if r["start_local"][11:16] == "10:00")
    assert (insult["passed"], insult["fatal"], insult["failed_items"]) == ("0", "1", "侮辱攻击讽刺语言")
    assert insult["alerts"] == "red: 侮辱攻击讽刺语言"
    assert sum(r["passed"] == "1" for r in rows) == 4


def test_daily_pass_rates_problem_classes_and_warnings_match_a_hand_count(sqlite_store):
    r = report(sqlite_store, "daily", "2025-06-02")
    g = {(x.site, x.group): x for x in r.groups}
    g1, g2 = g[("s1", "g1")], g[("s1", "g2")]
    assert (g1.now.calls, g1.now.passed, g1.now.pass_rate) == (4, 3, 3 / 4)
    assert (g2.now.calls, g2.now.passed, g2.now.pass_rate) == (2, 1, 1 / 2)
    assert (g1.now.a, g1.now.b, g1.now.c) == (1, 1, 1)
    assert (g2.now.a, g2.now.b, g2.now.c) == (0, 2, 1)
    # average score in %: g1 = (85 + 80 + 65 + 75) / 85 / 4
    assert g1.now.avg_score_pct == pytest.approx(100 * (85 + 80 + 65 + 75) / 85 / 4)
    # The day before: g1 had 2 calls, both passed (06-01 09:00, 10:00): -25 pp.
    assert (g1.before.calls, g1.before.pass_rate) == (2, 1.0)
    assert r.total.now.pass_rate == 4 / 6
    assert {(x.site, x.group) for x in r.groups_below} == {("s1", "g1"), ("s1", "g2")}
    assert [ln.name for ln in r.lines_below] == ["box2/l1", "box1/l1"]  # worst first
    assert r.top_items[0].item_id == "dead_air" and r.top_items[0].failed == 2


def test_weekly_summary_per_site_and_group_with_change_against_the_previous_week(sqlite_store):
    rows = {(r["site"], r["group"]): r for r in csv_rows(sqlite_store, "weekly", "--week", "2025-W23")}
    assert {k: (int(v["calls"]), int(v["passed"])) for k, v in rows.items()} == {
        ("s1", "g1"): (5, 4), ("s1", "g2"): (2, 1), ("s2", "g1"): (3, 3), ("all", "all"): (10, 8)}
    # Exactly 80 % is not below the 80 % threshold; 50 % is.
    assert [rows[k]["below_threshold"] for k in (("s1", "g1"), ("s1", "g2"), ("s2", "g1"))] == ["0", "1", "0"]
    # W22: g1 3 of 3 (05-31 23:50, 06-01 x2), g2 1 of 2 (05-28): total 4 of 5.
    assert float(rows[("all", "all")]["prev_pass_rate"]) == 0.8
    assert float(rows[("s1", "g1")]["pass_rate_change_pp"]) == pytest.approx(100 * (4 / 5 - 1.0))
    assert float(rows[("all", "all")]["pass_rate_change_pp"]) == pytest.approx(0.0)
    assert (rows[("s1", "g1")]["a_fatal"], rows[("s1", "g1")]["prev_a_fatal"]) == ("1", "0")


def test_monthly_report_counts_the_centres_calendar_month(sqlite_store):
    rows = {(r["site"], r["group"]): r for r in csv_rows(sqlite_store, "monthly", "--month", "2025-06")}
    total = rows[("all", "all")]
    # June: 06-01 x2 pass, W23 10 calls 8 pass, 06-30 23:30 fail; 07-01 00:10 is July.  May: 3 calls, 2 pass.
    assert (int(total["calls"]), int(total["passed"])) == (13, 10)
    assert float(total["pass_rate"]) == round(10 / 13, 4)
    assert (int(total["prev_calls"]), float(total["prev_pass_rate"])) == (3, round(2 / 3, 4))
    assert (total["a_fatal"], total["prev_a_fatal"]) == ("2", "1")


def test_site_and_group_filters_narrow_the_report(sqlite_store):
    r = report(sqlite_store, "weekly", "2025-W23", Scope(site="s1", group="g2"))
    assert [(g.site, g.group) for g in r.groups] == [("s1", "g2")]
    assert (r.total.now.calls, r.total.now.passed) == (2, 1)


def test_postgresql_store_gives_the_same_reports_as_sqlite(sqlite_store, postgres_cluster):
    pg = postgres_cluster.new_database()
    fill(pg)
    for kind, flag, value in (("daily", "--date", "2025-06-02"), ("weekly", "--week", "2025-W23"),
                              ("monthly", "--month", "2025-06")):
        assert csv_rows(pg, kind, flag, value) == csv_rows(sqlite_store, kind, flag, value)


def test_table_report_prints_the_pass_rates(sqlite_store):
    proc = cli("weekly", "--db", sqlite_store, "--week", "2025-W23", "--tz", "Asia/Shanghai")
    assert proc.returncode == 0, proc.stderr
    assert "50.0 %" in proc.stdout and "80.0 %" in proc.stdout and "box2/l1" in proc.stdout


def test_report_on_a_missing_store_says_so_without_a_traceback(tmp_path):
    proc = cli("daily", "--db", f"sqlite://{tmp_path}/none.sqlite")
    assert proc.returncode == 2
    assert "no such SQLite file" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("weekly", "--db", f"sqlite://{tmp_path}/none.sqlite", "--week", "23")
    assert proc.returncode == 2 and "--week 2025-W23" in proc.stderr


def chromium() -> str:
    return require("chromium", "chromium", shutil.which("chromium") or shutil.which("chromium-browser"))


def headless(*args: str, profile) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120)


def test_html_report_renders_in_headless_chromium(sqlite_store, tmp_path):
    from PIL import Image
    import numpy as np

    page = tmp_path / "weekly.html"
    proc = cli("weekly", "--db", sqlite_store, "--week", "2025-W23", "--tz", "Asia/Shanghai",
               "--format", "html", "--out", str(page))
    assert proc.returncode == 0, proc.stderr
    dom = headless("--dump-dom", page.as_uri(), profile=tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr
    assert 'id="pass-rate">80.0 %<' in dom.stdout  # 8 of 10 calls, as counted by hand above
    assert dom.stdout.count("data:image/png;base64,") == 2  # trend and top problems, inside the page
    shot = tmp_path / "weekly.png"
    run = headless(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri(), profile=tmp_path / "profile2")
    assert run.returncode == 0 and shot.exists(), run.stderr
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    ink = (pixels < 200).mean()
    assert 0.02 < ink < 0.6, f"screenshot looks blank or black: {ink:.3f} dark"


def refuse(db_url: str) -> None:
    """Three messages the store must refuse on the report's day (2025-06-02 in UTC+8), one the day after."""
    db = open_database(db_url)
    writer = StoreWriter(db, "callqa/v1")
    _, good = score_message(make_callscore("s2", "g1", "box3", "l1", datetime(2025, 6, 2, 9, tzinfo=TZ), 99, frozenset()))
    refused = [
        Received("callqa/v1/s1/g1/box1/score/l1", b"{truncated", "2025-06-02T02:00:00.000000Z"),
        Received("callqa/v1/s1/g1/box1/score/l2", b"\xff\xfe", "2025-06-02T03:00:00.000000Z"),
        Received("callqa/v1/s2/g1/box3/score/l1", good.replace(b"callqa.msg/1", b"callqa.msg/9"),
                 "2025-06-02T04:00:00.000000Z"),
        Received("callqa/v1/s1/g1/box1/score/l1", b"[]", "2025-06-03T04:00:00.000000Z"),
    ]
    assert writer.write(refused).quarantined == len(refused)
    db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_reports_list_the_messages_the_store_refused_so_missing_calls_are_noticed(backend, tmp_path, request):
    url = f"sqlite://{tmp_path}/store.sqlite" if backend == "sqlite" else \
        request.getfixturevalue("postgres_cluster").new_database()
    fill(url)
    refuse(url)
    day = report(url, "daily", "2025-06-02")
    by_reason = {r.reason: (r.count, f"{r.first:%H:%M}", f"{r.last:%H:%M}") for r in day.refused}
    assert by_reason == {"payload is not JSON": (2, "10:00", "11:00"),
                         "unknown envelope schema 'callqa.msg/9' (this store reads 'callqa.msg/1')": (1, "12:00", "12:00")}
    assert day.refused[0].count == 2  # most frequent reason first
    # A site's report keeps what came in on that site's topics; the next day is another report.
    assert [r.count for r in report(url, "daily", "2025-06-02", Scope(site="s2")).refused] == [1]
    assert [r.count for r in report(url, "daily", "2025-06-02", Scope(site="s1", group="g1")).refused] == [2]
    assert report(url, "daily", "2025-06-02", Scope(site="s1", group="g2")).refused == []
    assert sum(r.count for r in report(url, "weekly", "2025-W23").refused) == 4


def test_table_and_html_reports_show_refused_messages_and_say_where_they_are_kept(sqlite_store, tmp_path):
    refuse(sqlite_store)
    for fmt in ("table", "html"):
        out = tmp_path / f"daily.{fmt}"
        proc = cli("daily", "--db", sqlite_store, "--date", "2025-06-02", "--tz", "Asia/Shanghai",
                   "--format", fmt, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        text = out.read_text(encoding="utf-8")
        assert "payload is not JSON" in text and "callqa/v1/s1/g1/box1/score/l1" in text
        assert "quarantine table" in text
    proc = cli("daily", "--db", sqlite_store, "--date", "2025-06-05", "--tz", "Asia/Shanghai")
    assert "No messages refused by the store." in proc.stdout


def test_boxes_view_renders_in_headless_chromium_with_offline_silent_and_losing_first(tmp_path):
    from callqa_lab.simulate import status_message

    url = f"sqlite://{tmp_path}/fleet.sqlite"
    db = open_database(url)
    db.migrate()
    now = datetime.now(timezone.utc)
    long_ago, received = now - timedelta(hours=3), now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    messages = [status_message("s1", "g1", "gone", "offline", long_ago, (long_ago, long_ago)),
                status_message("s1", "g1", "quiet", "online", now, (long_ago, long_ago), lines=("l1",)),
                status_message("s1", "g1", "lossy", "online", now, (now, now), lines=(), dropped=7)]
    StoreWriter(db, "callqa/v1").write([Received(t, p, received) for t, p in messages])
    db.close()
    page = tmp_path / "boxes.html"
    proc = cli("boxes", "--db", url, "--tz", noon_zone(), "--working-hours", "06:00-18:00", "--format", "html",
               "--out", str(page))
    assert proc.returncode == 0, proc.stderr
    dom = headless("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
    for kpi in ("offline", "silent", "losing"):
        assert f'id="{kpi}">1<' in dom
    rows = [dom.index(f"s1/g1/{box}") for box in ("gone", "quiet", "lossy")]
    assert rows == sorted(rows) and 'class="offline"' in dom and "dropped 7" in dom
