"""Central QA: the store that takes every box's scores and alerts off the broker into
SQLite or PostgreSQL (`callqa store`), and the daily/weekly/monthly reports built on it
(`callqa report`)."""
