"""The programs and data the tests need from the machine, and what happens when one is absent.

A test that needs one calls `require(...)`. When the thing is absent, the test is skipped with a
reason naming it and the Debian package that brings it (scripts/test.sh installs them all);
under CI=true it fails instead, so a green CI run has run every test.
"""

from __future__ import annotations

import os
import shutil

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def absent(what: str) -> None:
    """Skip the test (fail it under CI=true), saying what is absent."""
    if under_ci():
        pytest.fail(f"{what} (CI=true: a missing tool fails the run)", pytrace=False)
    pytest.skip(what)


def require(program: str, package: str, found: str | None = None) -> str:
    """The path of `program` (or `found`, a path the caller located itself), else absent()."""
    path = found or shutil.which(program)
    if path is None:
        absent(f"{program} is not installed (Debian package '{package}'; scripts/test.sh installs it)")
    return path
