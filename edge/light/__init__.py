"""The box's side of the supervisors' desk lights: the host MQTT adapter the light logic
runs on, and the bridge that mirrors a seat group's light onto a WLED or Tasmota lamp."""
