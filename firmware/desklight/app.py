"""The desk light's main loop: MQTT in, light out, button back to MQTT.

Everything hardware- or network-specific comes in through small adapters, so this file runs
unchanged on a Pico W (umqtt.simple, NeoPixel, machine.Pin, WLAN) and on a host (the
paho-mqtt adapter, a test LED and button, a box's own network):

  output   .show(look, now_ms, publish)   publish(topic, payload) or None while offline
           .topics() / .on_message(topic, payload) / .will()   (see Output)
  link     .is_up() and .connect()        Wi-Fi, or anything that says "the network is there"
  button   .is_down()                     or None: a light without a button
  make_client()                           a new, unconnected client with umqtt.simple's methods

`step()` does one short pass and returns; call it every few tens of milliseconds.
"""

from . import messages
from .button import LONG, SHORT, PressDetector
from .state import GroupLight

_MAX_MSGS_PER_STEP = 20
_PENDING_ACKS = 8


class Output:
    """Where the light's look goes. Subclasses override `show`; the rest is optional."""

    def topics(self):
        return ()  # extra topics to subscribe to (e.g. a device's own online/offline status)

    def on_message(self, topic, payload):
        pass

    def will(self):
        return None  # (topic, payload) the broker publishes when this light drops off

    def show(self, look, now_ms, publish):
        raise NotImplementedError


class Backoff:
    """Reconnect delays 1, 2, 4 ... `max_s` seconds, with up to 25 % random spread so that a
    room of lights does not hammer a restarted broker in step."""

    def __init__(self, max_s, rand16):
        self._max_ms = max_s * 1000
        self._rand16 = rand16  # () -> 0..65535
        self._next_ms = 1000

    def reset(self):
        self._next_ms = 1000

    def next_ms(self):
        base = min(self._next_ms, self._max_ms)
        self._next_ms = min(self._next_ms * 2, self._max_ms)
        return base + base * self._rand16() // (4 * 65536)


class DeskLight:
    def __init__(self, settings, clock, output, link, make_client, button=None, log=print, rand16=None):
        self.settings = settings
        self.clock = clock
        self.output = output
        self.link = link
        self.make_client = make_client
        self.button = button
        self.log = log
        self.topics = messages.Topics(settings.topics_prefix, settings.topics_site, settings.topics_group)
        self.state = GroupLight(clock, settings.light_max_alert_s * 1000)
        self.presses = PressDetector(clock, settings.light_long_press_ms)
        self.backoff = Backoff(settings.mqtt_backoff_max_s, rand16 or _rand16)
        self.client = None
        self.pending_acks = []  # (msg_id, alert_id): acks not yet delivered, same msg_id on retry
        self._retry_at = clock.ticks_ms()
        self._ping_at = 0

    # --- connection -------------------------------------------------------------------

    def _connect(self, now):
        if not self.link.is_up():
            self.link.connect()
            self._retry_at = self.clock.ticks_add(now, 1000)
            return
        client = None
        try:
            client = self.make_client()
            client.set_callback(self._on_message)
            will = self.output.will()
            if will:
                client.set_last_will(will[0], will[1], False, 1)
            client.connect()
            self.state.forget_boxes()  # the retained states arrive again with the subscription
            self.client = client
            client.subscribe(self.topics.ack, 1)
            client.subscribe(self.topics.lights, 1)
            for topic in self.output.topics():
                client.subscribe(topic, 1)
        except Exception as e:  # umqtt raises OSError and MQTTException; both mean "not now"
            self.log("desk light: broker not reachable (%r); retrying" % (e,))
            self._drop(client, now)
            return
        self.backoff.reset()
        self.state.online = True
        self._ping_at = self.clock.ticks_add(self.clock.ticks_ms(), self.settings.mqtt_keepalive_s * 500)
        self.log("desk light: connected, watching %s" % self.topics.lights)
        self._flush_acks()

    def _drop(self, client, now):
        if client is not None:
            try:
                client.disconnect()
            except Exception:
                pass  # the connection is already gone; nothing to tell the broker
        if self.client is not None:
            self.log("desk light: connection lost; showing offline")
        self.client = None
        self.state.online = False
        self._retry_at = self.clock.ticks_add(now, self.backoff.next_ms())

    def _service(self, now):
        if not self.link.is_up():
            self._drop(self.client, now)
            return
        try:
            for _ in range(_MAX_MSGS_PER_STEP):
                if self.client.check_msg() is None:
                    break
            # umqtt.simple does not ping by itself; half the keepalive keeps the broker happy.
            if self.clock.ticks_diff(now, self._ping_at) >= 0:
                self.client.ping()
                self._ping_at = self.clock.ticks_add(now, self.settings.mqtt_keepalive_s * 500)
        except Exception as e:
            self.log("desk light: %r" % (e,))
            self._drop(self.client, now)

    # --- messages -----------------------------------------------------------------------

    def _on_message(self, topic, payload):
        topic = topic.decode() if isinstance(topic, bytes) else topic
        now = self.clock.ticks_ms()
        try:
            if topic == self.topics.ack:
                self.state.on_ack(messages.parse_ack(topic, payload))
                return
            box = self.topics.box_of(topic)
            if box is not None:
                self.state.on_light(box, messages.parse_light(topic, box, payload), now)
                return
            self.output.on_message(topic, payload)
        except ValueError as e:
            self.log("desk light: ignored a message: %s" % e)

    def publish(self, topic, payload):
        """Publish now (QoS 1); False when offline or the broker did not take it."""
        if self.client is None:
            return False
        try:
            # Bytes: umqtt.simple sizes packets with len(), which counts characters of a str.
            self.client.publish(topic.encode(), payload.encode(), False, 1)
            return True
        except Exception as e:
            self.log("desk light: publish failed (%r)" % (e,))
            self._drop(self.client, self.clock.ticks_ms())
            return False

    # --- button ---------------------------------------------------------------------------

    def acknowledge(self, alert_id):
        """Clear `alert_id` (None: all) here at once and tell every box and light of the group."""
        self.state.on_ack(alert_id)
        self.pending_acks.append((messages.new_msg_id(), alert_id))
        del self.pending_acks[:-_PENDING_ACKS]
        self._flush_acks()

    def _flush_acks(self):
        while self.pending_acks and self.client is not None:
            msg_id, alert_id = self.pending_acks[0]
            payload = messages.light_ack(
                self.topics, self.settings.light_id, alert_id, self.settings.light_id,
                self.clock.wall_ms(), msg_id)
            if not self.publish(self.topics.ack, payload):
                return
            self.pending_acks.pop(0)

    def _poll_button(self, now):
        if self.button is None:
            return
        press = self.presses.update(self.button.is_down(), now)
        if press is None or not self.state.online:
            return  # offline: nothing on show to acknowledge
        shown = self.state.current()
        if press == LONG and self.state.pending():
            self.acknowledge(None)
        elif press == SHORT and shown is not None:
            self.acknowledge(shown.alert_id)

    # --- loop ---------------------------------------------------------------------------

    def step(self):
        now = self.clock.ticks_ms()
        if self.client is None:
            if self.clock.ticks_diff(now, self._retry_at) >= 0:
                self._connect(now)
        else:
            self._service(now)
        now = self.clock.ticks_ms()
        self._poll_button(now)
        self.output.show(self.state.look(now), now, self.publish if self.client is not None else None)


def _rand16():
    b = messages.random_bytes(2)
    return b[0] << 8 | b[1]
