import pytest

from tests.broker import Broker, mosquitto_binary


@pytest.fixture
def broker(tmp_path):
    """A fresh Mosquitto on a loopback port for one test."""
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: .ci/run installs it (apt-get install mosquitto)")
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()
