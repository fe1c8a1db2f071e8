"""Running the box as a service and knowing it works.

systemd integration (`notify`, `health`, `watchdog`, `reload`, `service`), the metrics a
site's monitoring scrapes (`metrics`), and the site technician's tools: `callqa config`,
`callqa devices`, `callqa levels`, `callqa doctor`.
"""
