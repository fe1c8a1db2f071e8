"""callqa-edge: scores every call on a headset line, on the box, and publishes over MQTT."""

__version__ = "0.1.0"
