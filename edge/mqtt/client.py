"""The box's MQTT connection: the paho client set up from the config, and `BoxClient`, which
wires it to the units that do the work: the durable queue (durable.py), the send window
(window.py), the retained status (status.py) and the inbound commands (inbound.py).

paho-mqtt 2.x runs the network loop in its own thread and reconnects with exponential
backoff. paho keeps every QoS 1 message it was handed until the broker's PUBACK and resends
it after a reconnect, so within one process each outbox message is handed to paho once; the
outbox only forgets a message on PUBACK, so after a restart everything unacknowledged is
sent again with its original msg_id. A publisher thread of our own moves messages from the
outbox to paho, at most WINDOW at a time, so a long outage grows the file, not memory.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import ssl
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from callqa_contract.broker import BrokerAddress, BrokerUrlError, parse_broker_url
from edge.config import Config, ConfigError, MqttConfig
from edge.events import CallBoundary
from callqa_contract.messages import BoxId, Envelope, privacy_problems, validation_errors
from edge.mqtt.durable import DurableQueue
from edge.mqtt.inbound import InboundCommands, LightAck, Receipt
from edge.mqtt.outbox import OutboxError, OutboxMessage
from edge.mqtt.status import DeliveryHealth, StatusReport
from edge.mqtt.window import PubAck, SendWindow
from callqa_contract.topics import RETAINED_KINDS, Topics

log = logging.getLogger(__name__)

RESEND_CHECK_S = 5.0  # how often to look for messages whose receipt is overdue


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
        self.mcfg = cfg.mqtt
        self.box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
        self.topics = Topics(self.mcfg.prefix, cfg.box.site, cfg.box.group, cfg.box.id)
        self.on_call_boundary = on_call_boundary
        self.on_light_ack = on_light_ack
        started = time.monotonic()
        self._wake = threading.Event()  # the publisher thread has work
        self._stopping = threading.Event()
        self._connected = threading.Event()
        # the broker has confirmed the box's subscriptions (CTI events, acks, receipts): only then
        # does a command another client publishes reach this box
        self._subscribed = threading.Event()
        self._queue = DurableQueue(cfg.outbox.path or cfg.box.state_dir / "outbox.sqlite", cfg.outbox,
                                   on_failure=self._wake.set, clock=clock)
        self._window = SendWindow(self._queue, self._hand_to_paho)
        lines = [ln.name for ln in cfg.lines]
        self._status = StatusReport(lines, model, cfg.outbox, self.mcfg.status_interval_s, started)
        # CallBoundary.t is the line's stream time; the pipeline passes its own clock.
        self._inbound = InboundCommands(self.mcfg.prefix, lines,
                                        stream_clock or (lambda line: time.monotonic() - started))
        self._acks: queue.Queue[PubAck] = queue.Queue()  # from paho's network thread to the publisher
        self._receipts: queue.Queue[Receipt] = queue.Queue()  # likewise
        self._next_resend_check = 0.0
        self._refused = 0  # by the privacy check
        self._retained: dict[str, dict[str, Any]] = {}
        self._retained_lock = threading.Lock()
        self.connect_attempts = 0
        self._thread: threading.Thread | None = None
        self.client, self.address = make_paho_client(
            self.mcfg, self.mcfg.client_id or f"callqa-{self.box.site}-{self.box.group}-{self.box.id}")
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self._set_will()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "BoxClient":
        self._queue.open()
        connect_async(self.client, self.mcfg, self.address, persistent=True)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt-publisher", daemon=True)
        self._thread.start()
        return self

    def drain(self, timeout_s: float, cancel: threading.Event | None = None) -> int:
        """Wait up to `timeout_s` (connected or not: the broker may come back) until every score
        and alert is delivered, or `cancel` is set; returns how many are not."""
        deadline = time.monotonic() + timeout_s
        while (left := self.undelivered()) and time.monotonic() < deadline and not (cancel and cancel.is_set()):
            time.sleep(0.1)
        return left

    def stop(self, drain_s: float = 5.0) -> int:
        """Send what can be sent within `drain_s`, mark the box offline, disconnect. Whatever
        is still undelivered stays in the outbox for the next start; returns how many."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self._connected.is_set() and self.pending() > 0:
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)
        if self._connected.is_set():
            info = self.client.publish(self.topics.status, self._envelope("status", self._status.offline()).to_json(),
                                       qos=1, retain=True)
            info.wait_for_publish(max(0.5, deadline - time.monotonic()))
        self.client.disconnect()
        self.client.loop_stop()
        left = self.undelivered()
        self._queue.close()
        return left

    @property
    def outbox_path(self) -> Path:
        return self._queue.path

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Connected and subscribed, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        return self._connected.wait(timeout) and self._subscribed.wait(max(0.0, deadline - time.monotonic()))

    # --- sending ---------------------------------------------------------------------------

    def send(self, kind: str, line: str | None, body: dict[str, Any]) -> Envelope | None:
        """Queue a score or alert: written to the outbox (durable) before this returns, then
        published by the publisher thread. Returns None when the privacy check refused it."""
        problems = privacy_problems(body)
        if problems:
            self._refused += 1
            log.error("refusing to send a %s for line %s: it might carry audio, features or words: %s",
                      kind, line, "; ".join(problems))
            return None
        env = Envelope.new(kind, self.box, body)
        invalid = validation_errors(env.to_dict())
        if invalid:
            # Sent anyway: a score central QA can see and question beats one that is lost.
            log.error("%s for line %s does not match its schema (sent anyway, consumers will flag it): %s",
                      kind, line, "; ".join(invalid))
        self._queue.put(env.msg_id, self.topics.for_kind(kind, line), line,
                        lambda seq: dataclasses.replace(env, seq=seq).to_json())
        self._wake.set()
        return env

    def set_retained(self, kind: str, body: dict[str, Any]) -> None:
        """Publish a retained state (the desk light) now and again after every reconnect."""
        assert kind in RETAINED_KINDS
        with self._retained_lock:
            self._retained[kind] = body
        self._publish_retained(kind, body)

    def pending(self) -> int:
        """Scores and alerts not yet acknowledged by the broker."""
        return self._queue.depth() + self._window.in_flight_from_memory()

    def undelivered(self) -> int:
        """Scores and alerts not yet delivered: without central QA's receipt (receipts on), or
        the broker's acknowledgement (receipts off, and those kept in memory only)."""
        if not self.mcfg.receipts:
            return self.pending()
        return self._queue.receipts().unreceipted + self._queue.in_memory() + self._window.in_flight_from_memory()

    def dropped(self) -> int:
        return self._queue.dropped()

    def _set_will(self) -> None:
        """A fresh last will (offline, with the coming connection's session) for the next CONNECT:
        paho sends the will stored here with every connect and reconnect."""
        self.client.will_set(self.topics.status, self._envelope("status", self._status.connect()).to_json(),
                             qos=1, retain=True)

    def _envelope(self, kind: str, body: dict[str, Any]) -> Envelope:
        return Envelope.new(kind, self.box, body)

    def _publish_retained(self, kind: str, body: dict[str, Any]) -> None:
        self.client.publish(self.topics.for_kind(kind), self._envelope(kind, body).to_json(), qos=1, retain=True)

    def _health(self) -> DeliveryHealth:
        receipts = self._queue.receipts() if self.mcfg.receipts else None
        return DeliveryHealth(self._queue.dropped(), self._queue.undurable, self._refused, self._queue.error,
                              receipts, self.mcfg.receipt_timeout_s)

    def _publish_status(self) -> None:
        body = self._status.online(self._health(), self.pending())
        self.client.publish(self.topics.status, self._envelope("status", body).to_json(), qos=1, retain=True)
        self._status.published()

    # --- publisher thread ------------------------------------------------------------------

    def _publisher(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._settle_acks()
                self._settle_receipts()
                self._queue.prune_if_due()
                if self._connected.is_set():
                    self._window.fill()
                    if self._status.due(self._health()):
                        self._publish_status()
            except OutboxError as e:
                self._queue.failed(e)
            except Exception:  # the publisher must outlive any one bad message
                log.exception("MQTT publisher error (continuing)")
                time.sleep(1.0)

    def _settle_acks(self) -> None:
        delivered: list[str] = []
        while True:
            try:
                ack = self._acks.get_nowait()
            except queue.Empty:
                break
            m = self._window.settle(ack)
            if m is not None:
                delivered.append(m.msg_id)
        if self.mcfg.receipts:
            self._queue.acked(delivered)  # the broker has them; central QA's receipt deletes them
        else:
            self._queue.remove(delivered)

    def _settle_receipts(self) -> None:
        """Delete what central QA committed; send again what it has not confirmed in time."""
        if not self.mcfg.receipts:
            return
        ids: list[str] = []
        while True:
            try:
                ids += self._receipts.get_nowait().msg_ids
            except queue.Empty:
                break
        if ids:
            self._queue.receipted(ids)
        if time.monotonic() >= self._next_resend_check:
            self._next_resend_check = time.monotonic() + RESEND_CHECK_S
            first = self._queue.resent(self.mcfg.receipt_timeout_s)
            if first is not None:
                log.warning("no receipt from central QA within %.0f s for messages from #%d on: sending them again "
                            "(same msg_id; is the store running?)", self.mcfg.receipt_timeout_s, first)
                self._window.send_again_from(first)

    def _hand_to_paho(self, m: OutboxMessage) -> int:
        info = self.client.publish(m.topic, m.payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused to queue a message: {paho.error_string(info.rc)}")
        return info.mid

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
        inbound = [self.topics.call_events, self.topics.ack] + ([self.topics.receipt] if self.mcfg.receipts else [])
        client.subscribe([(topic, 1) for topic in inbound])
        self._window.reconnected()
        self._connected.set()
        self._publish_status()
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
        self._subscribed.clear()
        self._set_will()
        if was and not self._stopping.is_set():
            log.warning("lost the broker connection (%s); unacknowledged messages stay in the outbox "
                        "and are resent on reconnect", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Runs under paho's message lock: hand over to the publisher thread, touch nothing else.
        self._acks.put(PubAck(mid, reason_code.is_failure, str(reason_code)))
        self._wake.set()

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        command = self._inbound.read(message.topic, message.payload)
        if isinstance(command, CallBoundary) and self.on_call_boundary:
            self.on_call_boundary(command)
        elif isinstance(command, LightAck) and self.on_light_ack:
            self.on_light_ack(command)
        elif isinstance(command, Receipt):
            self._receipts.put(command)
            self._wake.set()
