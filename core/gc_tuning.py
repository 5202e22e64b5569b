"""Garbage-collector settings for the long-lived server processes (API, workers).

A full (generation 2) collection walks every container object the process holds and stops
everything meanwhile: measured in the API, 110-160 ms of CPU for the ~250k objects its imports
leave, and every request in flight waits it out. Objects made at start-up (modules, the app and
its routes, schemas, pools, clients) live as long as the process, so they are frozen out of the
collector's sight, which makes full collections cost only what requests leave behind.
"""

from __future__ import annotations

import gc

_server_process = False


def tune_for_server() -> None:
    """At process start, after the imports: freeze what exists and collect the young generation
    less often (allocation-heavy requests and turns otherwise trigger frequent pauses)."""
    global _server_process
    _server_process = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def freeze_after_startup() -> None:
    """Once the server has built its app and connections: those join the frozen objects. Does
    nothing outside a server process (tests build many apps in one process)."""
    if _server_process:
        gc.collect()
        gc.freeze()
