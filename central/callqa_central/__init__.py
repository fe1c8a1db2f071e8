"""Central QA: the store that takes every box's scores and alerts off the broker into
SQLite or PostgreSQL (`callqa-central store`), and the daily/weekly/monthly reports built on
it (`callqa-central report`). Runs on a server; needs nothing of the box's audio stack."""
