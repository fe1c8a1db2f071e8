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
