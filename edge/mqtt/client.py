"""The box's MQTT connection: drains the outbox to the broker, keeps the retained status and
desk-light state current, and turns inbound commands into events.

paho-mqtt 2.x runs the network loop in its own thread and reconnects with exponential
backoff. paho keeps every QoS 1 message it was handed until the broker's PUBACK and resends
it after a reconnect, so within one process each outbox message is handed to paho once; the
outbox only forgets a message on PUBACK, so after a restart everything unacknowledged is
sent again with its original msg_id. A publisher thread of our own moves messages from the
outbox to paho, at most WINDOW at a time, so a long outage grows the file, not memory.
"""

from __future__ import annotations

import logging
import queue
import ssl
import stat
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import __version__
from callqa_contract.broker import BrokerAddress, BrokerUrlError, parse_broker_url
from edge.config import Config, ConfigError, MqttConfig
from edge.events import CallBoundary
from callqa_contract.messages import BoxId, Envelope, MessageError, privacy_problems, validation_errors
from edge.mqtt.outbox import Outbox, OutboxError, OutboxMessage
from callqa_contract.topics import RETAINED_KINDS, Topics, parse

log = logging.getLogger(__name__)

WINDOW = 200  # outbox messages handed to paho and not yet acknowledged
OUTBOX_RETRY_S = 30.0  # how often to try reopening an outbox that could not be opened
REFUSED_RETRY_S = 30.0  # a message the broker refused (v5 PUBACK error) is sent again after this
RESEND_WAIT_S = 30.0  # after a reconnect, how long paho's own resends may take before we resend
PRUNE_EVERY_S = 10.0  # age-bound check of the outbox
SEEN_IDS = 1024  # inbound msg_ids remembered, to drop QoS 1 redeliveries


def read_secret(path: Path, what: str) -> str:
    """A secret file's contents, refusing one that group or others can read."""
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{what} {path}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} is readable by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"refusing to use it: run `chmod 600 {path}`")
    try:
        return path.read_text().strip()
    except OSError as e:
        raise ConfigError(f"{what} {path}: {e.strerror}") from None


def make_paho_client(mcfg: MqttConfig, client_id: str, url: str | None = None) -> tuple[paho.Client, BrokerAddress]:
    """A paho client set up from the config: protocol, credentials, TLS. Not yet connected.
    Shared by the box and by `callqa watch`."""
    url = url or mcfg.url
    try:
        address = parse_broker_url(url)
    except BrokerUrlError as e:
        raise ConfigError(f"mqtt.url {url!r}: {e}") from None
    protocol = MQTTProtocolVersion.MQTTv5 if mcfg.protocol == 5 else MQTTProtocolVersion.MQTTv311
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
        # 3.1.1 has no clean_start/expiry: a persistent session is clean_session=False.
        clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else False,
    )
    if mcfg.username:
        password = read_secret(mcfg.password_file, "mqtt.password_file") if mcfg.password_file else None
        client.username_pw_set(mcfg.username, password)
    if mcfg.key_file is not None:
        read_secret(mcfg.key_file, "mqtt.key_file")  # permission check only; ssl reads it
    if address.tls or mcfg.ca_file:
        try:
            client.tls_set(
                ca_certs=str(mcfg.ca_file) if mcfg.ca_file else None,
                certfile=str(mcfg.cert_file) if mcfg.cert_file else None,
                keyfile=str(mcfg.key_file) if mcfg.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"mqtt TLS files (ca_file / cert_file / key_file): {e}") from None
    client.reconnect_delay_set(min_delay=max(1, round(mcfg.reconnect_min_s)), max_delay=max(1, round(mcfg.reconnect_max_s)))
    return client, address


def connect_async(client: paho.Client, mcfg: MqttConfig, address: BrokerAddress, persistent: bool) -> None:
    """Start connecting in the background (paho retries until it gets through)."""
    if mcfg.protocol == 5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = mcfg.session_expiry_s if persistent else 0
        client.connect_async(address.host, address.port, mcfg.keepalive_s, clean_start=not persistent,
                             properties=props)
    else:
        client.connect_async(address.host, address.port, mcfg.keepalive_s)


@dataclass(frozen=True)
class LightAck:
    alert_id: str | None  # None: acknowledge every alert
    by: str


@dataclass
class _Counters:
    dropped_in_memory: int = 0
    undurable: int = 0
    refused: int = 0


class BoxClient:
    """One box's connection. `send()` never blocks on the network; callbacks for inbound
    commands run on paho's network thread and must return quickly."""

    def __init__(
        self,
        cfg: Config,
        *,
        model: str | None = None,
        on_call_boundary: Callable[[CallBoundary], None] | None = None,
        on_light_ack: Callable[[LightAck], None] | None = None,
        stream_clock: Callable[[str], float] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.cfg = cfg
        self.mcfg = cfg.mqtt
        self.box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
        self.topics = Topics(self.mcfg.prefix, cfg.box.site, cfg.box.group, cfg.box.id)
        self.lines = [ln.name for ln in cfg.lines]
        self.model = model
        self.on_call_boundary = on_call_boundary
        self.on_light_ack = on_light_ack
        self._started_mono = time.monotonic()
        # CallBoundary.t is the line's stream time; the pipeline passes its own clock.
        self._stream_clock = stream_clock or (lambda line: time.monotonic() - self._started_mono)
        self._clock = clock
        self.outbox_path = cfg.outbox.path or cfg.box.state_dir / "outbox.sqlite"
        self._outbox: Outbox | None = None
        self._outbox_error: str | None = None
        self._outbox_retry_at = 0.0
        self._memory: deque[OutboxMessage] = deque()  # used only while the outbox cannot be written
        self._counters = _Counters()
        self._acks: queue.Queue[tuple[int, bool, str]] = queue.Queue()
        self._inflight: dict[int, OutboxMessage] = {}
        self._inflight_seqs: set[int] = set()
        self._cursor = 0
        self._retry_from: int | None = None
        self._retry_at = 0.0
        self._resend_deadline: float | None = None
        self._retained: dict[str, dict[str, Any]] = {}
        self._retained_lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._last_status_key: tuple | None = None
        self._next_status = 0.0
        self._next_prune = 0.0
        self.connect_attempts = 0
        self._thread: threading.Thread | None = None
        self.client, self.address = make_paho_client(
            self.mcfg, self.mcfg.client_id or f"callqa-{self.box.site}-{self.box.group}-{self.box.id}")
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.will_set(self.topics.status, self._status_envelope("offline").to_json(), qos=1, retain=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "BoxClient":
        self._open_outbox()
        connect_async(self.client, self.mcfg, self.address, persistent=True)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self, drain_s: float = 5.0) -> None:
        """Send what can be sent within `drain_s`, mark the box offline, disconnect. Whatever
        is still unacknowledged stays in the outbox for the next start."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self._connected.is_set() and self.pending() > 0:
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)
        if self._connected.is_set():
            info = self.client.publish(self.topics.status, self._status_envelope("offline").to_json(), qos=1, retain=True)
            info.wait_for_publish(max(0.5, deadline - time.monotonic()))
        self.client.disconnect()
        self.client.loop_stop()
        if self._outbox:
            self._outbox.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # --- sending ---------------------------------------------------------------------------

    def send(self, kind: str, line: str | None, body: dict[str, Any]) -> Envelope | None:
        """Queue a score or alert: written to the outbox (durable) before this returns, then
        published by the publisher thread. Returns None when the privacy check refused it."""
        problems = privacy_problems(body)
        if problems:
            self._counters.refused += 1
            log.error("refusing to send a %s for line %s: it might carry audio, features or words: %s",
                      kind, line, "; ".join(problems))
            return None
        env = Envelope.new(kind, self.box, body)
        invalid = validation_errors(env.to_dict())
        if invalid:
            # Sent anyway: a score central QA can see and question beats one that is lost.
            log.error("%s for line %s does not match its schema (sent anyway, consumers will flag it): %s",
                      kind, line, "; ".join(invalid))
        topic = self.topics.for_kind(kind, line)
        self._store(env.msg_id, topic, line, env.to_json())
        self._wake.set()
        return env

    def _store(self, msg_id: str, topic: str, line: str | None, payload: bytes) -> None:
        if self._outbox is None and time.monotonic() >= self._outbox_retry_at:
            self._open_outbox()
        if self._outbox is not None:
            try:
                self._outbox.put(msg_id, topic, line, payload)
                return
            except OutboxError as e:
                self._outbox_failed(e)
        # No disk copy: keep it in memory (bounded) and send it while this process lives.
        self._counters.undurable += 1
        if len(self._memory) >= self.cfg.outbox.max_messages:
            self._memory.popleft()
            self._counters.dropped_in_memory += 1
            log.warning("in-memory queue full (%d messages, outbox unusable): dropped the oldest",
                        self.cfg.outbox.max_messages)
        self._memory.append(OutboxMessage(-1, msg_id, topic, line, payload, self._clock()))

    def _open_outbox(self) -> None:
        try:
            self._outbox = Outbox(self.outbox_path, self.cfg.outbox.max_messages, self.cfg.outbox.max_age_h * 3600,
                                  clock=self._clock)
            if self._outbox_error:
                log.info("outbox %s is writable again", self.outbox_path)
            self._outbox_error = None
        except OutboxError as e:
            self._outbox = None
            self._outbox_failed(e)

    def _outbox_failed(self, err: OutboxError) -> None:
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        self._outbox_retry_at = time.monotonic() + OUTBOX_RETRY_S
        if str(err) != self._outbox_error:
            log.error("%s. Scores keep being scored and sent, but without a disk copy they are lost if the "
                      "box restarts before the broker has them.", err)
        self._outbox_error = str(err)
        self._wake.set()

    def set_retained(self, kind: str, body: dict[str, Any]) -> None:
        """Publish a retained state (the desk light) now and again after every reconnect."""
        assert kind in RETAINED_KINDS
        with self._retained_lock:
            self._retained[kind] = body
        self._publish_retained(kind, body)

    def _publish_retained(self, kind: str, body: dict[str, Any]) -> None:
        self.client.publish(self.topics.for_kind(kind), Envelope.new(kind, self.box, body).to_json(), qos=1, retain=True)

    def pending(self) -> int:
        """Scores and alerts not yet acknowledged by the broker."""
        return (self._outbox.depth() if self._outbox else 0) + len(self._memory) + sum(
            1 for m in list(self._inflight.values()) if m.seq < 0)

    def dropped(self) -> int:
        return (self._outbox.dropped() if self._outbox else 0) + self._counters.dropped_in_memory

    # --- status ----------------------------------------------------------------------------

    def health_alerts(self) -> list[str]:
        alerts = []
        if self._outbox_error:
            alerts.append(self._outbox_error)
        dropped = self.dropped()
        if dropped:
            alerts.append(f"{dropped} unsent scores/alerts dropped at the outbox bound "
                          f"({self.cfg.outbox.max_messages} messages, {self.cfg.outbox.max_age_h:g} h)")
        if self._counters.refused:
            alerts.append(f"{self._counters.refused} messages refused by the privacy check")
        return alerts

    def status_body(self, state: str = "online") -> dict[str, Any]:
        body: dict[str, Any] = {"state": state, "version": __version__, "lines": self.lines, "model": self.model}
        if state == "online":
            body.update(
                uptime_s=round(time.monotonic() - self._started_mono, 1),
                outbox_depth=self.pending(),
                dropped=self.dropped(),
                undurable=self._counters.undurable,
                refused=self._counters.refused,
                alerts=self.health_alerts(),
            )
        return body

    def _status_envelope(self, state: str) -> Envelope:
        return Envelope.new("status", self.box, self.status_body(state))

    def publish_status(self) -> None:
        self.client.publish(self.topics.status, self._status_envelope("online").to_json(), qos=1, retain=True)
        self._next_status = time.monotonic() + self.mcfg.status_interval_s

    # --- publisher thread ------------------------------------------------------------------

    def _publisher(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._handle_acks()
                if self._outbox is not None and time.monotonic() >= self._next_prune:
                    self._outbox.prune()
                    self._next_prune = time.monotonic() + PRUNE_EVERY_S
                if self._connected.is_set():
                    self._feed()
                    status_key = (self.dropped(), tuple(self.health_alerts()))
                    if status_key != self._last_status_key or time.monotonic() >= self._next_status:
                        self._last_status_key = status_key
                        self.publish_status()
            except OutboxError as e:
                self._outbox_failed(e)
            except Exception:  # the publisher must outlive any one bad message
                log.exception("MQTT publisher error (continuing)")
                time.sleep(1.0)

    def _feed(self) -> None:
        if self._resend_deadline is not None:
            # After a reconnect paho resends what it still holds; new messages wait until those are
            # acknowledged, or they could overtake them (paho resends after on_connect returns).
            if self._inflight and time.monotonic() < self._resend_deadline:
                return
            if self._inflight:
                log.warning("%d messages unacknowledged %.0f s after reconnecting; sending them again",
                            len(self._inflight), RESEND_WAIT_S)
                self._requeue([m for _, m in sorted(self._inflight.items())])
                self._inflight.clear()
                self._inflight_seqs.clear()
            self._resend_deadline = None
        if self._retry_from is not None and time.monotonic() >= self._retry_at:
            self._cursor = min(self._cursor, self._retry_from - 1)
            self._retry_from = None
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        batch: list[OutboxMessage] = []
        if self._outbox is not None:
            batch = [m for m in self._outbox.after(self._cursor, room) if m.seq not in self._inflight_seqs]
            if batch:
                self._cursor = batch[-1].seq
        while len(batch) < room and self._memory:
            batch.append(self._memory.popleft())
        for m in batch:
            info = self.client.publish(m.topic, m.payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                raise RuntimeError(f"paho refused to queue a message: {paho.error_string(info.rc)}")
            self._inflight[info.mid] = m
            if m.seq >= 0:
                self._inflight_seqs.add(m.seq)

    def _handle_acks(self) -> None:
        done: list[str] = []
        while True:
            try:
                mid, failed, reason = self._acks.get_nowait()
            except queue.Empty:
                break
            m = self._inflight.pop(mid, None)
            if m is None:  # a status or light publish
                continue
            self._inflight_seqs.discard(m.seq)
            if not failed:
                done.append(m.msg_id)
                continue
            log.error("broker refused %s: %s (check the broker's ACL for this box); kept, retrying in %.0f s",
                      m.topic, reason, REFUSED_RETRY_S)
            self._requeue([m])
            self._retry_at = time.monotonic() + REFUSED_RETRY_S
        if done and self._outbox is not None:
            self._outbox.remove(done)

    def _requeue(self, messages: list[OutboxMessage]) -> None:
        """Send these again later: outbox messages from their place in the sequence."""
        for m in reversed(messages):
            if m.seq < 0:
                self._memory.appendleft(m)
            else:
                self._retry_from = m.seq if self._retry_from is None else min(self._retry_from, m.seq)

    # --- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connect_attempts += 1
        if reason_code.is_failure:
            log.error("broker %s:%d refused the connection: %s (check mqtt.username, mqtt.password_file and the "
                      "broker's password file); retrying with backoff up to %.0f s",
                      self.address.host, self.address.port, reason_code, self.mcfg.reconnect_max_s)
            return
        log.info("connected to %s:%d (session %s)", self.address.host, self.address.port,
                 "resumed" if flags.session_present else "new")
        client.subscribe([(self.topics.call_events, 1), (self.topics.ack, 1)])
        self._resend_deadline = time.monotonic() + RESEND_WAIT_S
        self._connected.set()
        self.publish_status()
        with self._retained_lock:
            retained = dict(self._retained)
        for kind, body in retained.items():
            self._publish_retained(kind, body)
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.connect_attempts += 1
        log.warning("cannot reach broker %s:%d; retrying with backoff up to %.0f s",
                    self.address.host, self.address.port, self.mcfg.reconnect_max_s)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping.is_set():
            log.warning("lost the broker connection (%s); unacknowledged messages stay in the outbox "
                        "and are resent on reconnect", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Runs under paho's message lock: hand over to the publisher thread, touch nothing else.
        self._acks.put((mid, reason_code.is_failure, str(reason_code)))
        self._wake.set()

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        info = parse(self.mcfg.prefix, message.topic)
        if info is None or info.kind not in ("call_event", "light_ack"):
            log.warning("ignoring a message on unexpected topic %s", message.topic)
            return
        try:
            env = Envelope.from_json(message.payload)
        except MessageError as e:
            log.warning("ignoring an invalid %s on %s: %s", info.kind, message.topic, e)
            return
        if env.kind != info.kind:
            log.warning("ignoring a %s sent on the %s topic %s", env.kind, info.kind, message.topic)
            return
        if env.msg_id in self._seen:  # QoS 1 redelivery of a command already acted on
            return
        self._seen[env.msg_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        if info.kind == "call_event":
            if info.line not in self.lines:
                log.warning("CTI %s for line %r, which this box does not have (lines: %s)",
                            env.body["event"], info.line, ", ".join(self.lines) or "none")
                return
            if self.on_call_boundary:
                self.on_call_boundary(CallBoundary(info.line, env.body["event"], self._stream_clock(info.line),
                                                   env.body["call_ref"]))
        elif self.on_light_ack:
            self.on_light_ack(LightAck(env.body["alert_id"], env.body["by"]))
