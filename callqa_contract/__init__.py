"""The MQTT contract between the box, central QA, `callqa watch` and the desk lights: the
topic tree, the JSON envelope and its schemas, and broker URLs. It imports nothing of the box
or of the store, so every side installs it as it is."""
