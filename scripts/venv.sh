# shellcheck shell=bash
# Sourced by scripts/demo.sh and scripts/test.sh: the project's virtual environment in .venv
# with the given pip install arguments. A stamp of the arguments and the three pyproject.toml
# files lets a second run with nothing changed skip pip altogether.

ensure_venv() {  # "$@": what to pip install, e.g. -e . -e ./central -e ./lab
    [ -x .venv/bin/python ] || python3 -m venv .venv
    local stamp
    stamp="$(printf '%s\n' "$@" | cat - pyproject.toml central/pyproject.toml lab/pyproject.toml | sha256sum | cut -d' ' -f1)"
    [ "$(cat .venv/.callqa-installed 2>/dev/null)" = "$stamp" ] && return 0
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "$@"
    echo "$stamp" >.venv/.callqa-installed
}
