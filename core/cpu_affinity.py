"""Which CPUs the turn engine (workers and the embedded Temporal server) runs on when it shares
the machine with the API (`frontdesk dev`, the benchmarks).

A backlog of turns keeps every core busy, and the acknowledgement of a webhook then waits for a
CPU behind it: niceness and SCHED_IDLE did not stop that here (the Temporal server and the
workers' bursts still held both cores for tens of milliseconds; bench/webhook_ack.py p99 75-140
ms at 100 webhooks/s). Leaving one core to the API, PostgreSQL and Redis did (p99 15-20 ms), for
about 13-22% fewer turns per second at saturation on 2 cores, because the turns' database work
still runs on every core.
"""

from __future__ import annotations

import os

AUTO = "auto"
ALL = "all"


def parse_cpu_list(text: str) -> frozenset[int]:
    """'1-3,6' → {1, 2, 3, 6}; raises ValueError saying what is wrong."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            raise ValueError(f"empty entry in CPU list {text!r}")
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"{part!r} in CPU list {text!r} is not a CPU number or a range like 1-3")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"range {part!r} in CPU list {text!r} runs backwards")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def check_turn_cpus(value: str) -> str:
    """The setting's own check: 'auto', 'all' or a CPU list."""
    if value not in (AUTO, ALL):
        parse_cpu_list(value)
    return value


def format_cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def turn_cpus_beside_api(setting: str, available: frozenset[int] | None = None) -> frozenset[int] | None:
    """The CPUs to confine the turn engine to, for a launcher that also runs the API on this
    machine; None: wherever the kernel puts it.

    'auto': every CPU this process may use but the lowest, when there are two or more.
    'all': no confinement. A list: those CPUs, which must be ones this process may use.
    """
    available = available if available is not None else frozenset(os.sched_getaffinity(0))
    if setting == ALL:
        return None
    if setting == AUTO:
        return available - {min(available)} if len(available) >= 2 else None
    wanted = parse_cpu_list(setting)
    if not wanted <= available:
        missing = format_cpu_list(wanted - available)
        raise ValueError(f"FRONTDESK_TURN_CPUS names CPUs this machine does not offer: {missing} (available: {format_cpu_list(available)})")
    return wanted


def confine_this_process(setting: str) -> None:
    """A worker's own step at start: an explicit list confines it (its threads, made later,
    inherit the mask). 'auto' and 'all' leave it alone: a worker started on its own (a
    container) may use what it was given; launchers resolve 'auto' before they start it."""
    if setting not in (AUTO, ALL):
        os.sched_setaffinity(0, turn_cpus_beside_api(setting))


def worker_env(cpus: frozenset[int] | None) -> dict[str, str]:
    """What a launcher passes its workers: the resolved list, or 'all' (never 'auto' again)."""
    return {"FRONTDESK_TURN_CPUS": format_cpu_list(cpus) if cpus else ALL}
