"""The desk light's logic, plain Python that runs unchanged on MicroPython (the Pico W) and
CPython (the tests, the box's WLED/Tasmota bridge). Hardware and network come in through
small adapters: see app.py."""
