"""`callqa config check`: validate the box's config and rubric, naming the key of each problem.
`callqa config init`: write a commented edge.toml from flags (used by scripts/install.sh)."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from edge.config import Config, ConfigError, load_config, parse_config
from edge.keywords.trust import DEFAULT_NAME, TRUST_MIN_OCCURRENCES, TRUST_RECALL
from edge.ops.checks import check_rubric

DEFAULT_CONFIG = Path("/etc/callqa/edge.toml")


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"box config (default {DEFAULT_CONFIG})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate config and rubric; prints OK or each problem by key")
    add_config_argument(check)
    init = sub.add_parser("init", help="write a new config file from flags")
    init.add_argument("--out", type=Path, required=True, help="file to write (refuses to overwrite without --force)")
    init.add_argument("--force", action="store_true")
    init.add_argument("--site", required=True)
    init.add_argument("--group", required=True)
    init.add_argument("--box-id", required=True)
    init.add_argument("--line", action="append", required=True, metavar="NAME:DEVICE:AGENT:CUSTOMER",
                      help="one per line; DEVICE a sounddevice name or index (empty: default), "
                           "AGENT/CUSTOMER 0-based channels, e.g. seat1:USB Audio:0:1")
    init.add_argument("--broker", help="mqtt://host:1883 or mqtts://host:8883 (omit: MQTT off)")
    init.add_argument("--username")
    init.add_argument("--password-file", type=Path)
    init.add_argument("--ca-file", type=Path)
    init.add_argument("--cert-file", type=Path)
    init.add_argument("--key-file", type=Path)
    init.add_argument("--state-dir", type=Path, default=Path("/var/lib/callqa"))
    init.add_argument("--teacher", type=Path, help="the teacher's folder (`callqa teacher install` writes it)")


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return check(args.config)
    return init(args)


def check(path: Path) -> int:
    cfg = load_config(path)  # ConfigError: cli prints it, exit 2
    problem = check_rubric(cfg)
    if problem is not None:
        raise ConfigError(problem)
    print(f"OK: {path} ({len(cfg.lines)} line(s): {', '.join(ln.name for ln in cfg.lines)})")
    return 0


def _toml_str(value: str | Path) -> str:
    # json.dumps escapes as TOML basic strings do (\" \\ \n \uXXXX); no TOML writer in the deps.
    return json.dumps(str(value), ensure_ascii=False)


def _parse_line(spec: str) -> dict:
    parts = spec.split(":")
    if len(parts) != 4:
        raise ConfigError(f"--line {spec!r}: expected NAME:DEVICE:AGENT:CUSTOMER, e.g. seat1:USB Audio:0:1")
    name, device, agent, customer = parts
    try:
        channels = {"agent": int(agent), "customer": int(customer)}
    except ValueError:
        raise ConfigError(f"--line {spec!r}: AGENT and CUSTOMER are channel numbers (0-based)") from None
    line: dict = {"name": name, "source": "capture", "channels": channels}
    if device:
        line["device"] = int(device) if device.isdigit() else device
    return line


def render(args: argparse.Namespace) -> tuple[str, Config]:
    """The file's text and the Config it parses to (validated before anything is written)."""
    lines = [_parse_line(spec) for spec in args.line]
    out = [
        "# callqa-edge box configuration. Check after editing: callqa config check",
        "# Reload the rubric without restarting: systemctl reload callqa",
        "",
        "[box]",
        f"site = {_toml_str(args.site)}",
        f"group = {_toml_str(args.group)}",
        f"id = {_toml_str(args.box_id)}",
        f"state_dir = {_toml_str(args.state_dir)}",
    ]
    for line in lines:
        out += ["", "[[lines]]", f"name = {_toml_str(line['name'])}", 'source = "capture"']
        if "device" in line:
            dev = line["device"]
            out.append(f"device = {dev}" if isinstance(dev, int) else f"device = {_toml_str(dev)}")
        out += ["# 0-based input channels of the device", "[lines.channels]",
                f"agent = {line['channels']['agent']}", f"customer = {line['channels']['customer']}"]
    trust_file = Path(args.state_dir) / DEFAULT_NAME
    out += ["", "[keywords]",
            "# A phrase the keyword model did not hear (greeting, closing, thanks, 您, an apology):",
            "#   false   never counts against the agent: the shipped model misses most real voices",
            "#           (see the keyword model card), so a miss is no evidence",
            "#   true    fails its rubric item, in every category",
            "#   \"auto\"  fails it only in the categories where the keyword trust file says the model hears",
            f"#           this site: recall >= {TRUST_RECALL} against the teacher over >= {TRUST_MIN_OCCURRENCES} of its occurrences,",
            "#           measured for the model this box runs. \"auto\" needs the teacher (install.sh --teacher)",
            "#           and that file, measured on a few of this site's own calls:",
            f"#           callqa eval-kws --teacher CALLS_DIR --trust-out {trust_file}",
            "count_missing_phrases = false",
            f"# trust = {_toml_str(trust_file)}   # the keyword trust file (this is the default)"]
    if args.teacher is not None:
        out += ["# The teacher (a real-speech recogniser) for eval-kws and learning; `callqa doctor` checks it.",
                f"teacher = {_toml_str(args.teacher)}"]
    out += ["", "[mqtt]", f"enabled = {'true' if args.broker else 'false'}"]
    if args.broker:
        out.append(f"url = {_toml_str(args.broker)}")
    for key in ("username", "password_file", "ca_file", "cert_file", "key_file"):
        value = getattr(args, key)
        if value is not None:
            out.append(f"{key} = {_toml_str(value)}")
    out += ["# Keep every score until central QA's store receipts it (nothing lost end to end). A site",
            "# whose broker feeds no callqa-central store sets this to false: scores then go at PUBACK.",
            "receipts = true"]
    text = "\n".join(out) + "\n"
    cfg = parse_config(tomllib.loads(text), str(args.out))
    return text, cfg


def init(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; keeping it (use --force to replace)", file=sys.stderr)
        return 1
    text, _cfg = render(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".new")
    tmp.write_text(text)
    tmp.replace(args.out)  # never a half-written config
    print(f"wrote {args.out}")
    return 0
