"""The box's only output: MQTT. Topic tree, versioned JSON envelopes, a crash-safe outbox,
the paho client that drains it, the desk-light state and `callqa watch`.

    pipeline → MqttSink → DurableQueue (SQLite outbox, fsynced) → SendWindow → broker
                          (BoxClient wires them, the status and the inbound commands to paho)
"""
