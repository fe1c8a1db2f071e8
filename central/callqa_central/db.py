"""The central store's database: SQLite (one WAL file) or PostgreSQL, one schema for both.

Queries are written once, with `?` placeholders, in SQL both engines accept; `Database`
translates the placeholder for psycopg. Migrations are the numbered plain-SQL files in
`migrations/`, applied in order under a lock so that several store processes starting at
once apply each file exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from callqa_central.errors import ConfigError

Row = tuple[Any, ...]


class Database:
    """One connection. `transaction()` groups writes; `rows()` reads; both take `?` placeholders."""

    dialect = ""
    # Errors that mean "this row is unacceptable", as opposed to "the database is unavailable".
    data_errors: tuple[type[Exception], ...] = ()
    missing_table_errors: tuple[type[Exception], ...] = ()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _migration_lock(self) -> None:
        """Serialise migrations between processes; called first inside the migration transaction."""

    def close(self) -> None:
        raise NotImplementedError

    def applied_migrations(self) -> list[int]:
        """Versions applied; [] for a database no store has used yet."""
        try:
            return [v for (v,) in self.rows("SELECT version FROM schema_migrations ORDER BY version")]
        except self.missing_table_errors:
            return []

    def migrate(self) -> list[str]:
        """Apply every migration not yet applied; returns the names applied now."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_utc TEXT NOT NULL)"
        )
        applied_now = []
        with self.transaction():
            self._migration_lock()
            done = {v for (v,) in self.rows("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations():
                if version in done:
                    continue
                for statement in split_statements(sql):
                    self.execute(statement)
                self.execute(
                    "INSERT INTO schema_migrations (version, name, applied_utc) VALUES (?, ?, ?)",
                    (version, name, datetime.now(timezone.utc).isoformat()),
                )
                applied_now.append(name)
        return applied_now


class SqliteDatabase(Database):
    dialect = "sqlite"
    data_errors = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)
    missing_table_errors = (sqlite3.OperationalError,)

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly, so a batch is exactly one commit.
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, which is what acknowledging to the broker promises.
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def rows(self, sql, params=()):
        return self.conn.execute(sql, params).fetchall()

    def execute(self, sql, params=()):
        self.conn.execute(sql, params)

    def executemany(self, sql, params):
        self.conn.executemany(sql, params)

    @contextmanager
    def transaction(self):
        # IMMEDIATE takes the write lock at once: two store processes on one file then wait
        # (busy timeout) instead of failing halfway through a batch.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self):
        self.conn.close()


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, dsn: str):
        import psycopg  # only the PostgreSQL path needs it

        self.data_errors = (psycopg.IntegrityError, psycopg.DataError)
        self.missing_table_errors = (psycopg.errors.UndefinedTable,)
        try:
            self.conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as e:
            raise ConfigError(f"--db {redact(dsn)}: cannot connect to PostgreSQL: {e}".strip()) from None

    @staticmethod
    def _sql(sql: str) -> str:
        if "%" in sql:
            raise ValueError("shared SQL must not contain '%' (psycopg placeholder syntax)")
        return sql.replace("?", "%s")

    def rows(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(self._sql(sql), params)
            return cur.fetchall()

    def execute(self, sql, params=()):
        self.conn.execute(self._sql(sql), params)

    def executemany(self, sql, params):
        with self.conn.cursor() as cur:
            cur.executemany(self._sql(sql), params)

    @contextmanager
    def transaction(self):
        with self.conn.transaction():
            yield

    def _migration_lock(self):
        # Any constant works; it only has to be the same in every store process.
        self.execute("SELECT pg_advisory_xact_lock(7160001)")

    def close(self):
        self.conn.close()


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    u = urlparse(url)
    if u.password:
        return url.replace(f":{u.password}@", ":***@", 1)
    return url


def open_database(url: str, create: bool = True) -> Database:
    """`sqlite:///abs/path.sqlite`, `sqlite:relative.sqlite`, a bare file path, or `postgresql://…`.
    create=False: a SQLite file must exist already (a report never makes an empty store)."""
    scheme = urlparse(url).scheme
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url)
    if scheme == "sqlite":
        path = urlparse(url).path
    elif scheme == "":
        path = url
    else:
        raise ConfigError(f"--db {redact(url)}: unknown database kind '{scheme}' (use sqlite:///PATH or postgresql://...)")
    if not path:
        raise ConfigError(f"--db {url}: no file path")
    if not create and not Path(path).is_file():
        raise ConfigError(f"--db {url}: no such SQLite file")
    try:
        return SqliteDatabase(Path(path))
    except (OSError, sqlite3.Error) as e:
        raise ConfigError(f"--db {url}: cannot open SQLite file: {e}") from None


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of the shipped migration files, `NNNN_name.sql`, in order."""
    folder = resources.files("callqa_central") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text("utf-8")))
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file. Our files hold only DDL, no procedural bodies, so a
    statement ends at a line ending in ';' (comment lines dropped)."""
    statements, current = [], []
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current).strip())
    return statements
