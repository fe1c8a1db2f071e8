#!/usr/bin/env bash
# Set up the box in a virtual environment, make a demo call with known content, score it:
# prints the CallScore (JSON) and writes the call's timeline picture into out/.
# Needs Debian packages: python3-venv espeak-ng (see .ci/run for the full list).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The box, and the lab for its call generator (the lab brings central QA along).
.venv/bin/python -m pip install -q -e . -e ./central -e ./lab
mkdir -p out
# A busy call: the agent interrupts twice, there is dead air, the customer is unhappy.
.venv/bin/python -m callqa_lab.gencall --scenario busy --rate 16000 --seed 1 --out out/demo-call.wav --truth out/demo-call.truth.json
.venv/bin/callqa score out/demo-call.wav --timeline out > out/demo-call.score.jsonl
.venv/bin/python -m json.tool --no-ensure-ascii out/demo-call.score.jsonl
echo "timeline picture: $(ls out/*.png | tail -n 1)"
