"""UTC ISO-8601 timestamps <-> milliseconds since 1970, in integer arithmetic only.

Hand-written because MicroPython has no `datetime`, and `time.mktime` is local time on
CPython and uses a port-dependent epoch on MicroPython. Integers because the Pico's floats
are single precision: 1.8e9 s as a float32 is off by up to two minutes. The day count is
the usual proleptic-Gregorian "days from civil" conversion.
"""


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_ms(text):
    """'2026-11-26T15:02:14.5+00:00' (or ...Z, or another offset) -> int ms since 1970 UTC.

    Raises ValueError naming the text when it is not such a timestamp.
    """
    if not isinstance(text, str) or len(text) < 19 or text[4] != "-" or text[7] != "-" \
            or text[10] not in "Tt " or text[13] != ":" or text[16] != ":":
        raise ValueError("not an ISO-8601 timestamp: %r" % (text,))
    try:
        y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
        h, mi, s = int(text[11:13]), int(text[14:16]), int(text[17:19])
        rest = text[19:]
        frac_ms = 0
        if rest[:1] == ".":
            n = 1
            while n < len(rest) and rest[n].isdigit():
                n += 1
            frac_ms = int((rest[1:n] + "000")[:3])
            rest = rest[n:]
        if rest in ("Z", "z", ""):  # no offset: the contract's timestamps are UTC
            offset = 0
        elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
            offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60
            if rest[0] == "-":
                offset = -offset
        else:
            raise ValueError
    except ValueError:
        raise ValueError("not an ISO-8601 timestamp: %r" % (text,))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        raise ValueError("not an ISO-8601 timestamp: %r" % (text,))
    return (_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset) * 1000 + frac_ms


def format_ms(epoch_ms):
    """ms since 1970 -> '2026-11-26T15:02:14Z' (whole seconds)."""
    t = epoch_ms // 1000
    days, secs = t // 86400, t % 86400
    y, m, d = _civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, secs // 3600, secs // 60 % 60, secs % 60)
