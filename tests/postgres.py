"""The tests' PostgreSQL: callqa_lab/testdb.py (shared with `callqa bench`), plus its fixture."""

import pytest

from callqa_lab.testdb import PostgresCluster, postgres_bin
from tests.tools import require

__all__ = ["PostgresCluster", "postgres_bin", "postgres_cluster"]


@pytest.fixture(scope="session")
def postgres_cluster():
    bindir = require("PostgreSQL's server (/usr/lib/postgresql/*/bin)", "postgresql", postgres_bin())
    cluster = PostgresCluster(bindir).start()
    yield cluster
    cluster.stop()
