"""Take scores and alerts off the broker and into the database without losing or doubling any.

- One MQTT v5 *shared* subscription per site and kind (`$share/<group>/<prefix>/<site>/+/+/score/+`):
  the broker hands each message to one member of the group, so N store processes split the load.
- Beside them, a plain subscription to every box's retained status (`<prefix>/<site>/+/+/status`):
  a broker does not deliver retained messages on `$share` subscriptions, so every store process
  reads every status (statuses.py makes those writes idempotent and ordered); none is receipted.
- A persistent session (fixed client id, clean_start=False, a session expiry): while a store
  is down or restarting, the broker keeps what it was sent but did not acknowledge.
- Manual acknowledgement: the network thread only queues messages; the writer commits a batch
  and then sends the PUBACKs. A crash between commit and PUBACK means a redelivery, which the
  msg_id key absorbs; a crash before the commit means a redelivery of what was never stored.
- Acks carry the connection they arrived on: after a reconnect the broker may reuse a packet id
  for a different message, so an ack left over from the old connection is not sent (the broker
  redelivers that message and the duplicate is absorbed).
- Fleet alerts (fleet_alerts.py): every `fleet_check_s` the store looks for boxes offline and
  lines silent in working hours and publishes an alert for each new episode.
- Receipts (receipts.py): what a batch committed is receipted to its boxes, which keep each
  message until then and send it again when no receipt comes, so a message the broker lost
  (a restart, or no subscriber at that moment) still reaches the database.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from callqa_contract.broker import BrokerAddress, BrokerUrlError, parse_broker_url
from callqa_contract.topics import kind_filter, shared
from callqa_central.errors import ConfigError
from callqa_central.db import Database, redact
from callqa_central.fleet import FleetRules
from callqa_central.fleet_alerts import raise_new
from callqa_central.periods import utc_key
from callqa_central.validate import STATUS_KIND, STORED_KINDS
from callqa_central.receipts import ReceiptBatcher
from callqa_central.writer import BatchResult, Received, StoreWriter

log = logging.getLogger("callqa.store")


@dataclass(frozen=True)
class ConsumerOptions:
    broker_url: str
    sites: tuple[str, ...]
    client_id: str
    share_group: str = "callqa-store"
    prefix: str = "callqa/v1"
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 500  # unacknowledged messages the broker may send ahead: the largest batch
    batch_wait_s: float = 0.05  # how long a batch waits to fill before it is written anyway
    keepalive_s: int = 30
    fleet: FleetRules | None = None  # None: no fleet alerts
    fleet_check_s: float = 30.0


@dataclass(frozen=True)
class _Pending:
    connection: int
    mid: int
    qos: int
    received: Received


def subscriptions(prefix: str, sites: tuple[str, ...], share_group: str) -> list[str]:
    return ([shared(share_group, kind_filter(prefix, kind, site)) for site in sites for kind in STORED_KINDS]
            + [kind_filter(prefix, STATUS_KIND, site) for site in sites])


def broker_address(url: str) -> BrokerAddress:
    """--broker parsed by the contract; ConfigError naming the option when it is not a broker URL."""
    try:
        return parse_broker_url(url)
    except BrokerUrlError as e:
        raise ConfigError(f"--broker {redact(url)}: {e}") from None


class StoreConsumer:
    """Runs until `stop` is set: network thread queues, this thread writes and acknowledges."""

    def __init__(self, opts: ConsumerOptions, open_db: Callable[[], Database], stop: threading.Event):
        self.opts = opts
        self.open_db = open_db
        self.stop = stop
        self.inbox: queue.Queue[_Pending] = queue.Queue()
        self.connection = 0  # bumped on every CONNACK; read by the writer thread
        self.stored = 0
        self.quarantined = 0
        self.address = broker_address(opts.broker_url)
        self.receipts = ReceiptBatcher(opts.prefix, opts.client_id)
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.opts.client_id,
            protocol=mqtt.MQTTv5, manual_ack=True,
        )
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        # Short: while no store is subscribed, the broker has nowhere to put what boxes send
        # (receipts make the boxes send it again, but the sooner the store is back the better).
        client.reconnect_delay_set(1, 5)
        return client

    # --- network thread -------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s", redact(self.opts.broker_url), reason_code)
            return
        self.connection += 1
        log.info("connected to %s as %s (session %s)", redact(self.opts.broker_url), self.opts.client_id,
                 "resumed" if flags.session_present else "new")
        topics = subscriptions(self.opts.prefix, self.opts.sites, self.opts.share_group)
        client.subscribe([(t, SubscribeOptions(qos=1)) for t in topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("broker refused the subscription: %s", ", ".join(failed))
        else:
            log.info("subscribed: %s", " ".join(subscriptions(self.opts.prefix, self.opts.sites, self.opts.share_group)))

    def _on_connect_fail(self, client, userdata):
        log.warning("cannot reach the broker at %s; retrying", redact(self.opts.broker_url))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if not self.stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        received = Received(msg.topic, msg.payload, utc_key(datetime.now(timezone.utc)))
        self.inbox.put(_Pending(self.connection, msg.mid, msg.qos, received))

    # --- writer thread --------------------------------------------------------------
    def run(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.opts.session_expiry_s
        props.ReceiveMaximum = self.opts.receive_maximum
        db = self.open_db()
        db.migrate()
        writer = StoreWriter(db, self.opts.prefix)
        self.client.connect_async(self.address.host, self.address.port, self.opts.keepalive_s, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        next_report = time.monotonic() + 60
        next_fleet_check = time.monotonic() + self.opts.fleet_check_s
        try:
            while not self.stop.is_set():
                batch = self._next_batch()
                if batch:
                    writer = self._write_until_stored(writer, batch)
                if self.receipts.due(time.monotonic()):
                    self._send_receipts()
                if self.opts.fleet and time.monotonic() > next_fleet_check:
                    self._send_fleet_alerts(writer.db)
                    next_fleet_check = time.monotonic() + self.opts.fleet_check_s
                if time.monotonic() > next_report:
                    log.info("%d stored, %d quarantined so far", self.stored, self.quarantined)
                    next_report = time.monotonic() + 60
            # Stopping: what is queued was sent to us; store and acknowledge it before leaving.
            while batch := self._next_batch(wait=False):
                writer = self._write_until_stored(writer, batch)
            self._send_receipts()
        finally:
            self.client.disconnect()  # normal disconnect: the session (and its queue) stays on the broker
            self.client.loop_stop()
            writer.db.close()
        log.info("stopped: %d stored, %d quarantined", self.stored, self.quarantined)

    def _next_batch(self, wait: bool = True) -> list[_Pending]:
        try:
            batch = [self.inbox.get(timeout=0.5) if wait else self.inbox.get_nowait()]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.opts.batch_wait_s
        while len(batch) < self.opts.receive_maximum:
            left = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_until_stored(self, writer: StoreWriter, batch: list[_Pending]) -> StoreWriter:
        """Commit the batch, retrying through database outages, then acknowledge it."""
        delay = 1.0
        while True:
            try:
                result = writer.write([p.received for p in batch])
                break
            except Exception as e:  # noqa: BLE001 - any database failure: keep the messages unacknowledged and retry
                if self.stop.is_set():
                    log.error("database write failed while stopping (%s): %d messages left unacknowledged "
                              "for the broker to deliver again", e, len(batch))
                    return writer
                log.error("database write failed (%s); retrying in %.0f s, nothing acknowledged", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                writer = self._reopen(writer)
        self._count(result)
        self.receipts.add(result.committed, time.monotonic())
        current = self.connection
        for p in batch:
            if p.connection == current:
                self.client.ack(p.mid, p.qos)
        return writer

    def _send_receipts(self) -> None:
        """QoS 1; paho keeps them while the connection is down and sends them on reconnect."""
        for topic, payload in self.receipts.take():
            self.client.publish(topic, payload, qos=1)

    def _send_fleet_alerts(self, db: Database) -> None:
        try:
            alerts = raise_new(db, self.opts.fleet, self.opts.prefix, self.opts.client_id, self.opts.sites)
        except Exception as e:  # noqa: BLE001 - the database is down: the writer retries it, the check comes again
            log.error("fleet check failed: %s", e)
            return
        for topic, payload in alerts:
            log.warning("fleet alert on %s: %s", topic, json.loads(payload)["body"]["message"])
            self.client.publish(topic, payload, qos=1)

    def _reopen(self, writer: StoreWriter) -> StoreWriter:
        try:
            writer.db.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; we replace it anyway
            pass
        try:
            return StoreWriter(self.open_db(), self.opts.prefix)
        except Exception as e:  # noqa: BLE001 - still down: keep the old writer, the next try reopens again
            log.error("cannot reopen the database: %s", e)
            return writer

    def _count(self, result: BatchResult) -> None:
        self.stored += result.stored
        self.quarantined += result.quarantined
