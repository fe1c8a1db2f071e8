"""Running the box as a service and knowing it works.

systemd integration (`notify`, `health`, `watchdog`, `reload`, `service`), the metrics a
site's monitoring scrapes (`metrics`), and what the technician's commands in edge/commands/
(`config`, `devices`, `levels`, `doctor`) are built from: `levels`, `tap`, `clock`,
`broker_probe`, `checks`.
"""
