"""Pixel colours for a Look at a moment: what a WS2812 ring or strip shows.

clear: steady green (or dark, if the light is set to `clear = "off"`); amber: steady amber;
red: red, blinking 2 per second when the alert says blink; a line number N (1..LED count)
lights only the first N pixels; offline: slow blue breathing; fault (bad settings): fast magenta.
"""

import math

RED = (255, 0, 0)
AMBER = (255, 120, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
MAGENTA = (255, 0, 255)
DARK = (0, 0, 0)

BLINK_PERIOD_MS = 500
BREATH_PERIOD_MS = 4000
FAULT_PERIOD_MS = 200

_COLOURS = {"red": RED, "amber": AMBER, "clear": GREEN, "offline": BLUE, "fault": MAGENTA}


def _scale(colour, level):
    return (int(colour[0] * level + 0.5), int(colour[1] * level + 0.5), int(colour[2] * level + 0.5))


def level_at(look, now_ms):
    """0..1 intensity of the look's animation at `now_ms`."""
    if look.kind == "offline":
        # Never fully dark, so a breathing light is not mistaken for a dead one.
        return 0.1 + 0.9 * (1 - math.cos(2 * math.pi * (now_ms % BREATH_PERIOD_MS) / BREATH_PERIOD_MS)) / 2
    if look.kind == "fault":
        return 1.0 if (now_ms // (FAULT_PERIOD_MS // 2)) % 2 == 0 else 0.0
    if look.blink:
        return 1.0 if (now_ms // (BLINK_PERIOD_MS // 2)) % 2 == 0 else 0.0
    return 1.0


def frame(look, now_ms, led_count, brightness, clear_off=False):
    """A list of `led_count` (r, g, b) tuples for `look` at tick `now_ms`."""
    if look.kind == "clear" and clear_off:
        return [DARK] * led_count
    lit = _scale(_COLOURS[look.kind], brightness * level_at(look, now_ms))
    n = led_count
    if look.line_no is not None and 1 <= look.line_no <= led_count and led_count > 1:
        n = look.line_no
    return [lit] * n + [DARK] * (led_count - n)
