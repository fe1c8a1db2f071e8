"""`callqa bench` keeps going when a section's optional dependency is missing."""

import math
import sys

from edge.bench import run_sections


def test_bench_reports_a_section_it_cannot_import_as_skipped(monkeypatch):
    fake = "tests.bench_section_needing_psycopg"
    monkeypatch.setitem(sys.modules, fake, None)  # importing it raises ImportError, like a missing extra
    (m,) = run_sections(ctx=None, modules=(fake,))
    assert m.section == fake
    assert m.stage.startswith(f"skipped: cannot import {fake}")
    assert math.isnan(m.value)


def test_store_bench_names_the_missing_postgresql_driver(monkeypatch):
    from callqa_lab import bench_store as bench

    monkeypatch.setattr(bench, "postgres_bin", lambda: "/usr/lib/postgresql/16/bin")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as on a box without the [store] extra
    assert "psycopg" in bench.postgres_skip_reason()


def test_fleet_bench_reports_status_and_score_ingest_or_why_it_cannot_run(monkeypatch):
    from callqa_lab import bench_fleet as bench

    monkeypatch.setattr(bench, "mosquitto_binary", lambda: None)
    (m,) = bench.bench_section(ctx=None)
    assert m.stage.startswith("skipped: mosquitto") and math.isnan(m.value)
    monkeypatch.setattr(bench, "skip_reason", lambda: None)
    monkeypatch.setattr(bench, "run_fleet", lambda: {
        "boxes": 500, "status_interval_s": 2.0, "ok": True, "statuses": 2500, "statuses_lost": 0,
        "boxes_not_newest": 0, "status_per_s": 60, "status_offered_per_s": 250, "scores": 4000, "scores_lost": 0,
        "score_per_s": 95, "score_offered_per_s": 400, "stored_s_after_publishing": 31.6})
    status, scores = bench.bench_section(ctx=None)
    assert (status.value, status.unit, scores.value) == (60.0, "msg/s", 95.0)
    assert "500 boxes every 2 s (ok, lost 0" in status.stage and "lost 0" in scores.stage
