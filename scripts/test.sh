#!/usr/bin/env bash
# Set up a virtual environment with the box and its test tools, then run the test suite.
# Needs Debian packages: python3-venv espeak-ng sox mosquitto (see .ci/run for the full list).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
exec .venv/bin/python -m pytest -q "$@"
