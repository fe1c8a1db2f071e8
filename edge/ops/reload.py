"""SIGHUP: re-read the rubric, its phrase lists and the keyword trust file while the box keeps scoring.

The signal handler only sets a flag (a handler may interrupt anything); a worker thread does
the slow part, `load()` (parse the rubric, build the new phrase lists), and hands the result to
`apply()`, which swaps the reference the pipeline reads when a *new* call starts. Calls already
in progress keep the rubric they started with, so none is dropped or scored half-and-half.
A file that fails to load is reported by name and the old rubric stays in force.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Generic, TypeVar

from edge.config import ConfigError
from edge.ops.notify import notify

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reloader(Generic[T]):
    def __init__(self, load: Callable[[], T], apply: Callable[[T], None], send: Callable[..., bool] = notify):
        self._load = load
        self._apply = apply
        self._send = send
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reload", daemon=True)
        self._previous_handler = None

    def install(self) -> "Reloader[T]":
        """Start the worker and route SIGHUP to it (call from the main thread)."""
        self._previous_handler = signal.signal(signal.SIGHUP, lambda signum, frame: self.request())
        self._thread.start()
        return self

    def uninstall(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGHUP, self._previous_handler)
            self._previous_handler = None
        self._stop.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join()

    def request(self) -> None:
        self._wanted.set()

    def reload_now(self) -> bool:
        """Load and apply; on a bad file keep what is in force. Returns whether it applied."""
        self._send("RELOADING=1", "STATUS=reloading rubric and phrase lists")
        try:
            new = self._load()
        except ConfigError as e:
            log.error("reload refused, the previous rubric stays in force:\n%s", e)
            self._send("READY=1", "STATUS=reload refused (see the log); previous rubric in force")
            return False
        except Exception:  # a bug in a loader must not kill the running box either
            log.exception("reload failed, the previous rubric stays in force")
            self._send("READY=1", "STATUS=reload failed (see the log); previous rubric in force")
            return False
        self._apply(new)
        log.info("rubric, phrase lists and keyword trust reloaded; calls in progress finish under the previous rubric")
        self._send("READY=1", "STATUS=rubric reloaded")
        return True

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            self.reload_now()
