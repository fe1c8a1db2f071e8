#!/usr/bin/env bash
# Set up a virtual environment with the box and its test tools, then run the test suite.
# Needs Debian packages: python3-venv espeak-ng sox mosquitto nodejs npm (see .ci/run for the full list).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The box with its test tools, central QA and the lab (generated calls, benches, test rigs).
.venv/bin/python -m pip install -q -e '.[dev]' -e ./central -e ./lab
# MicroPython's WebAssembly port: the desk light's logic is tested on it (tests/micropython).
[ -d tests/micropython/node_modules ] || npm ci --prefix tests/micropython --no-audit --no-fund --silent
exec .venv/bin/python -m pytest -q "$@"
