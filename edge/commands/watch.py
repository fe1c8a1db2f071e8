"""`callqa watch`: subscribe to a site's scores, alerts, status and desk lights and print
them as they arrive, each checked against its JSON Schema; invalid payloads are flagged."""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from edge.config import MqttConfig, load_config
from callqa_contract.messages import validation_errors
from callqa_contract.topics import below_prefix, parse, watch_filter

_COLOURS = {"red": "bold red", "amber": "yellow", "green": "green", "online": "green", "offline": "red"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", metavar="URL", help="mqtt://HOST[:PORT] or mqtts://... (default: the config's mqtt.url)")
    p.add_argument("--config", type=Path, help="take credentials, TLS files and prefix from this box config")
    p.add_argument("--prefix", help="topic prefix (default: config's mqtt.prefix, else callqa/v1)")
    p.add_argument("--site", help="only this site")
    p.add_argument("--group", help="only this seat group")
    p.add_argument("--count", type=int, default=0, help="exit after this many messages")
    p.add_argument("--timeout", type=float, default=0.0, help="exit after this many seconds")


def summary(kind: str, body: dict[str, Any]) -> str:
    """One line of what a supervisor or QA needs to see."""
    c = lambda word: f"[{_COLOURS.get(word, 'white')}]{escape(word)}[/]"  # noqa: E731
    if kind == "score":
        verdict = "[red]FATAL[/]" if body.get("fatal") else ("passed" if body.get("passed") else "[yellow]failed[/]")
        return (f"{escape(str(body.get('call_id')))} {body.get('score')}/{body.get('max_score')} {verdict} "
                f"{body.get('duration_s')} s, {len(body.get('alerts', []))} alerts")
    if kind == "alert":
        return f"{c(str(body.get('severity')))} {escape(str(body.get('reason')))} at {body.get('t')} s of {escape(str(body.get('call_id')))}"
    if kind == "status":
        extra = f" outbox={body.get('outbox_depth')} dropped={body.get('dropped')}" if body.get("state") == "online" else ""
        alerts = "".join(f"\n    [red]! {escape(a)}[/]" for a in body.get("alerts", []))
        return f"{c(str(body.get('state')))} v{body.get('version')} lines={','.join(body.get('lines', []))}{extra}{alerts}"
    if kind == "light":
        return f"{c(str(body.get('state')))}{' blink' if body.get('blink') else ''} {escape(str(body.get('reason')))}"
    return escape(json.dumps(body, ensure_ascii=False))


def render(topic: str, payload: bytes, prefix: str) -> str:
    info = parse(prefix, topic)
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"[bold red]INVALID[/] {escape(topic)}: not JSON ({escape(str(e))})"
    problems = validation_errors(doc)
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if info is not None and kind is not None and kind != info.kind:
        problems.append(f"kind {kind!r} on a {info.kind} topic")
    where = escape(below_prefix(prefix, topic) or topic)
    if problems:
        return f"[bold red]INVALID[/] {where}\n" + "\n".join(f"    [red]{escape(p)}[/]" for p in problems)
    return f"{kind:<10} {where}  {summary(kind, doc['body'])}"


def run(args: argparse.Namespace) -> int:
    from edge.mqtt.client import connect_async, make_paho_client  # paho only when watching

    cfg = load_config(args.config) if args.config else None
    mcfg = cfg.mqtt if cfg else MqttConfig()
    prefix = args.prefix or mcfg.prefix
    topic = watch_filter(prefix, args.site, args.group)
    console = Console(highlight=False)
    client, address = make_paho_client(mcfg, f"callqa-watch-{uuid.uuid4().hex[:8]}", url=args.broker)
    seen = 0
    done = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            console.print(f"[red]broker {address.host}:{address.port} refused the connection: {reason_code}[/]")
            return
        c.subscribe(topic, qos=1)

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        # Said only once the broker has granted the subscription: an ACL refusal is visible.
        if any(rc.is_failure for rc in reason_codes):
            console.print(f"[red]broker refused the subscription to {topic}: {reason_codes[0]}[/]")
            done.set()
            return
        console.print(f"[dim]watching {topic} on {address.host}:{address.port}[/]")

    def on_message(c, userdata, msg):
        nonlocal seen
        console.print(render(msg.topic, msg.payload, prefix))
        seen += 1
        if args.count and seen >= args.count:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_connect_fail = lambda c, u: console.print(
        f"[yellow]cannot reach {address.host}:{address.port}; retrying[/]")
    connect_async(client, mcfg, address, persistent=False)
    client.loop_start()
    try:
        done.wait(args.timeout or None)
    finally:
        client.disconnect()
        client.loop_stop()
    return 0
