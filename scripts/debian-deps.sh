# shellcheck shell=bash
# Sourced by scripts/demo.sh and scripts/test.sh: install the Debian packages that
# scripts/debian-packages.txt marks for the calling script, when any is missing. As root with
# apt-get, otherwise through sudo; where neither can work, one line names what is missing and
# the command to run. Nothing missing: nothing is run, not even apt-get update.

ensure_debian_packages() {  # $1: demo | test (the list's second column); $2: the caller's name
    local want="$1" who="$2" list pkg uses check
    list="$(dirname "${BASH_SOURCE[0]}")/debian-packages.txt"
    local missing=()
    while read -r pkg uses check; do
        [[ -z "$pkg" || "$pkg" == \#* ]] && continue
        [[ ",$uses," == *",$want,"* ]] || continue
        if [ -n "$check" ]; then
            bash -c "$check" >/dev/null 2>&1 && continue
        elif [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
            continue
        fi
        missing+=("$pkg")
    done <"$list"
    [ "${#missing[@]}" = 0 ] && return 0

    local apt=(apt-get)
    if [ "$(id -u)" != 0 ]; then
        # sudo may ask for a password on a terminal; without one it must not need to.
        if command -v sudo >/dev/null && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
            apt=(sudo apt-get)
        else
            echo "$who: missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "$who: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "$who: could not install ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
}
