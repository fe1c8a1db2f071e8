"""Raspberry Pi Pico W adapters for the desk light: WS2812 pixels, the button, Wi-Fi, NTP,
and the umqtt.simple client. MicroPython only; the logic they feed lives in desklight/."""

import time

import machine
import neopixel
import network

from desklight import pattern
from desklight.app import Output


class PixelOutput(Output):
    """A WS2812 ring or strip on one GPIO; redraws only when the frame changes."""

    def __init__(self, pin, led_count, brightness, clear_off):
        self._np = neopixel.NeoPixel(machine.Pin(pin), led_count)
        self._n = led_count
        self._brightness = brightness
        self._clear_off = clear_off
        self._last = None

    def show(self, look, now_ms, publish):
        pixels = pattern.frame(look, now_ms, self._n, self._brightness, self._clear_off)
        if pixels != self._last:
            for i in range(self._n):
                self._np[i] = pixels[i]
            self._np.write()
            self._last = pixels


class Button:
    """A push button between the GPIO and ground (internal pull-up: pressed reads 0)."""

    def __init__(self, pin):
        self._pin = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)

    def is_down(self):
        return self._pin.value() == 0


class Wifi:
    def __init__(self, ssid, password, country):
        if country:
            network.country(country)
        self._wlan = network.WLAN(network.STA_IF)
        self._wlan.active(True)
        self._ssid = ssid
        self._password = password
        self._asked_at = None

    def is_up(self):
        return self._wlan.isconnected()

    def connect(self):
        # A join takes seconds; ask again only if the last request got nowhere in 15 s.
        now = time.ticks_ms()
        if self._asked_at is None or time.ticks_diff(now, self._asked_at) > 15000:
            self._asked_at = now
            self._wlan.disconnect()
            self._wlan.connect(self._ssid, self._password)


def sync_clock(clock, log):
    """Set the RTC from NTP so that alerts' `expires` can be read; harmless when it fails."""
    try:
        import ntptime

        ntptime.settime()
        clock.wall_known = True
    except Exception as e:
        log("desk light: no NTP time yet (%r); using alert lengths instead" % (e,))


def client_factory(s):
    """umqtt.simple's MQTTClient, with TLS when `mqtt.tls` is set (CA from `mqtt.ca_file`)."""
    from umqtt.simple import MQTTClient

    ssl_ctx = None
    if s.mqtt_tls:
        import ssl

        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if s.mqtt_ca_file:
            with open(s.mqtt_ca_file, "rb") as f:
                ssl_ctx.load_verify_locations(cadata=f.read())
            ssl_ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ssl_ctx.verify_mode = ssl.CERT_NONE  # encrypted, broker not verified: say so in the README

    def make():
        return MQTTClient(
            "desklight-" + s.light_id, s.mqtt_host, port=s.mqtt_port,
            user=s.mqtt_username or None, password=s.mqtt_password,
            keepalive=s.mqtt_keepalive_s, ssl=ssl_ctx,
        )

    return make
