"""Which boxes a report or view covers: all, one site, or one seat group of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    site: str | None = None
    group: str | None = None

    def match(self) -> tuple[list[str], list]:
        """The scope's conditions on the site and grp columns, and their parameters."""
        pairs = [(f"{column} = ?", value) for column, value in (("site", self.site), ("grp", self.group))
                 if value is not None]
        return [sql for sql, _ in pairs], [value for _, value in pairs]

    def where(self, first: str, end: str, column: str = "start_utc") -> tuple[str, list]:
        conditions, params = self.match()
        return " AND ".join([f"{column} >= ? AND {column} < ?", *conditions]), [first, end, *params]
