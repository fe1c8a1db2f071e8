"""Broker URLs, parsed in one place for the box, `callqa watch`, the desk-light bridge and
the central store: `mqtt://[user[:password]@]host[:1883]` or `mqtts://...[:8883]`
(`tcp://` and `ssl://` are the same two)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

# scheme -> TLS
_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


class BrokerUrlError(ValueError):
    """Not a broker URL; the message says what is wrong, the caller names the option."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    u = urlparse(url)
    if u.scheme not in _SCHEMES or not u.hostname:
        raise BrokerUrlError("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    tls = _SCHEMES[u.scheme]
    try:
        port = u.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerUrlError("the port is not a number") from None
    return BrokerAddress(u.hostname, port, tls, u.username, u.password)
