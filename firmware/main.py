"""Pico W entry point: read config.json, build the adapters, run the desk light for ever."""

import time

import board
from desklight import settings
from desklight.app import DeskLight
from desklight.clock import Clock
from desklight.state import Look

STEP_MS = 20
NTP_RETRY_MS = 60000


def show_fault(message):
    """Bad settings: say why on the USB console and flash magenta until someone fixes it."""
    print("desk light: " + message)
    pixels = board.PixelOutput(0, 12, 0.3, False)
    fault = Look("fault")
    while True:
        pixels.show(fault, time.ticks_ms(), None)
        time.sleep_ms(STEP_MS)


def main():
    try:
        s = settings.load("config.json")
        if not s.wifi_ssid:
            raise settings.SettingsError("config.json: wifi.ssid: is empty")
    except settings.SettingsError as e:
        show_fault(str(e))
    clock = Clock()
    wifi = board.Wifi(s.wifi_ssid, s.wifi_password, s.wifi_country)
    light = DeskLight(
        s, clock,
        board.PixelOutput(s.light_led_pin, s.light_led_count, s.light_brightness, s.light_clear == "off"),
        wifi, board.client_factory(s), board.Button(s.light_button_pin),
    )
    ntp_at = time.ticks_ms()
    while True:
        if not clock.wall_known and wifi.is_up() and time.ticks_diff(time.ticks_ms(), ntp_at) >= 0:
            board.sync_clock(clock, print)
            ntp_at = time.ticks_add(time.ticks_ms(), NTP_RETRY_MS)
        light.step()
        time.sleep_ms(STEP_MS)


main()
