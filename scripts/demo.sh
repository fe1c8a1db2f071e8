#!/usr/bin/env bash
# Set up the box in a virtual environment, make a demo call with known content, score it:
# prints the CallScore (JSON) and writes the call's timeline picture into out/. Installs the
# Debian packages scripts/debian-packages.txt marks `demo` when any is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian-deps.sh
source scripts/venv.sh
ensure_debian_packages demo demo.sh
# The box, and the lab for its call generator (the lab brings central QA along).
ensure_venv -e . -e ./central -e ./lab
mkdir -p out
# A busy call: the agent interrupts twice, there is dead air, the customer is unhappy.
.venv/bin/python -m callqa_lab.gencall --scenario busy --rate 16000 --seed 1 --out out/demo-call.wav --truth out/demo-call.truth.json
.venv/bin/callqa score out/demo-call.wav --timeline out > out/demo-call.score.jsonl
.venv/bin/python -m json.tool --no-ensure-ascii out/demo-call.score.jsonl
call_id="$(.venv/bin/python -c 'import json, sys; print(json.loads(sys.stdin.readline())["call_id"])' <out/demo-call.score.jsonl)"
echo "timeline picture: out/$call_id.png"
