"""The light's one settings file (`config.json` on the board), checked once at start.

A missing or wrong value is refused with the file and the key (`config.json:
light.led_count: must be an integer from 1 to 1024, got 'twelve'`), never a traceback.
JSON rather than TOML because MicroPython ships a JSON parser and no TOML one.
"""

import json

REQUIRED = object()

# (section, key, type, default, check(value) -> error text or None)
_SPEC = (
    ("wifi", "ssid", str, "", None),
    ("wifi", "password", str, "", None),
    ("wifi", "country", str, "", None),
    ("mqtt", "host", str, REQUIRED, lambda v: None if v else "must not be empty"),
    ("mqtt", "port", int, 8883, lambda v: None if 0 < v < 65536 else "must be a TCP port"),
    ("mqtt", "tls", bool, True, None),
    ("mqtt", "ca_file", str, "", None),
    ("mqtt", "username", str, "", None),
    ("mqtt", "password", str, "", None),
    ("mqtt", "keepalive_s", int, 30, lambda v: None if 5 <= v <= 600 else "must be from 5 to 600"),
    ("mqtt", "backoff_max_s", int, 60, lambda v: None if 1 <= v <= 3600 else "must be from 1 to 3600"),
    ("topics", "prefix", str, "callqa/v1", lambda v: None if v else "must not be empty"),
    ("topics", "site", str, REQUIRED, None),
    ("topics", "group", str, REQUIRED, None),
    ("light", "id", str, REQUIRED, None),
    ("light", "led_count", int, 12, lambda v: None if 1 <= v <= 1024 else "must be from 1 to 1024"),
    ("light", "led_pin", int, 0, lambda v: None if v >= 0 else "must be a GPIO number"),
    ("light", "button_pin", int, 15, lambda v: None if v >= 0 else "must be a GPIO number"),
    ("light", "brightness", float, 0.3, lambda v: None if 0 < v <= 1 else "must be above 0 and at most 1"),
    ("light", "clear", str, "green", lambda v: None if v in ("green", "off") else "must be 'green' or 'off'"),
    ("light", "long_press_ms", int, 2000, lambda v: None if 300 <= v <= 10000 else "must be from 300 to 10000"),
    ("light", "max_alert_s", int, 900, lambda v: None if 10 <= v <= 86400 else "must be from 10 to 86400"),
)

_TOPIC_SAFE = ("site", "group", "id")


class SettingsError(Exception):
    pass


def _type_name(t):
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[t]


class Settings:
    """Attributes are `<section>_<key>`, e.g. `settings.light_led_count`."""

    def __init__(self, data, source="config.json"):
        if not isinstance(data, dict):
            raise SettingsError("%s: must be a JSON object" % source)
        known = {}
        for section, key, typ, default, check in _SPEC:
            known.setdefault(section, []).append(key)
            where = "%s: %s.%s" % (source, section, key)
            sect = data.get(section, {})
            if not isinstance(sect, dict):
                raise SettingsError("%s: %s must be an object" % (source, section))
            value = sect.get(key, default)
            if value is REQUIRED:
                raise SettingsError("%s: is missing" % where)
            if typ is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            # bool is an int in Python: do not let `true` pass as a port number.
            if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
                raise SettingsError("%s: must be %s, got %r" % (where, _type_name(typ), value))
            problem = check(value) if check else None
            if problem is None and key in _TOPIC_SAFE and (not value or _unsafe(value)):
                problem = "must be non-empty and free of '/', '+', '#', spaces"
            if problem:
                raise SettingsError("%s: %s, got %r" % (where, problem, value))
            setattr(self, section + "_" + key, value)
        for section in data:
            if section not in known:
                raise SettingsError("%s: unknown section %r" % (source, section))
            for key in data[section]:
                if key not in known[section]:
                    raise SettingsError("%s: %s: unknown key %r" % (source, section, key))


def _unsafe(value):
    for c in "/+# ":
        if c in value:
            return True
    return False


def load(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise SettingsError("%s: cannot be read (is it on the board?)" % path)
    try:
        data = json.loads(text)
    except ValueError:
        raise SettingsError("%s: not valid JSON" % path)
    return Settings(data, path)
