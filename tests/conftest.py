import pytest

from tests.broker import Broker, mosquitto_binary
from tests.tools import require


@pytest.fixture
def broker(tmp_path):
    """A fresh Mosquitto on a loopback port for one test."""
    require("mosquitto", "mosquitto", mosquitto_binary())
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()
