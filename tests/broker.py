"""The tests' Mosquitto: edge/mqtt/testbroker.py (shared with `callqa bench`)."""

from callqa_lab.testbroker import Broker, free_port, mosquitto_binary

__all__ = ["Broker", "free_port", "mosquitto_binary"]
