"""The tests' PostgreSQL: callqa_lab/testdb.py (shared with `callqa bench`), plus its fixture."""

import pytest

from callqa_lab.testdb import PostgresCluster, postgres_bin

__all__ = ["PostgresCluster", "postgres_bin", "postgres_cluster"]


@pytest.fixture(scope="session")
def postgres_cluster():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries absent (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    cluster = PostgresCluster(bindir).start()
    yield cluster
    cluster.stop()
