"""The turn engine leaves a core to the API where they share a machine (core/cpu_affinity.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from pydantic import ValidationError

from core.cpu_affinity import parse_cpu_list, turn_cpus_beside_api, worker_env
from core.embedded.temporal import start_temporal
from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_cpu_lists_read_like_taskset_and_bad_ones_say_why():
    assert parse_cpu_list("1-3,6") == {1, 2, 3, 6}
    assert parse_cpu_list("0") == {0}
    for bad, reason in (("1-x", "not a CPU number"), ("3-1", "runs backwards"), ("1,,2", "empty entry"), ("two", "not a CPU")):
        with pytest.raises(ValueError, match=reason):
            parse_cpu_list(bad)
    with pytest.raises(ValidationError, match="runs backwards"):
        Settings(turn_cpus="3-1")


def test_auto_leaves_the_first_cpu_to_the_api_when_there_are_two_or_more():
    assert turn_cpus_beside_api("auto", frozenset({0, 1})) == {1}
    assert turn_cpus_beside_api("auto", frozenset({2, 3, 5})) == {3, 5}
    assert turn_cpus_beside_api("auto", frozenset({4})) is None  # one CPU: nothing to leave
    assert turn_cpus_beside_api("all", frozenset({0, 1})) is None
    assert turn_cpus_beside_api("0-1", frozenset({0, 1, 2})) == {0, 1}
    with pytest.raises(ValueError, match="does not offer: 7"):
        turn_cpus_beside_api("1,7", frozenset({0, 1}))
    # Workers get the resolved list, never "auto" (which a worker alone leaves alone).
    assert worker_env(frozenset({1, 2})) == {"FRONTDESK_TURN_CPUS": "1,2"}
    assert worker_env(None) == {"FRONTDESK_TURN_CPUS": "all"}


def test_embedded_temporal_runs_every_thread_on_the_cpus_given(tmp_path):
    last = frozenset({max(os.sched_getaffinity(0))})
    server = start_temporal(tmp_path / "t.db", headless=True, cpus=last)
    try:
        threads = psutil.Process(server.process.pid).threads()
        assert len(threads) > 1  # the Go runtime's threads, started after exec, inherit the mask
        assert {frozenset(os.sched_getaffinity(t.id)) for t in threads} == {last}
        assert server.cpus == last  # what a restart (bench/chaos_restarts.py) starts it with again
    finally:
        server.stop()


def test_a_worker_confines_itself_to_an_explicit_list_only():
    last = max(os.sched_getaffinity(0))
    script = "import os; from core.cli import confine_this_process as c; c(os.environ['FRONTDESK_TURN_CPUS']); print(sorted(os.sched_getaffinity(0)))"
    everywhere = sorted(os.sched_getaffinity(0))
    for setting, expected in ((str(last), [last]), ("auto", everywhere), ("all", everywhere)):
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env={**os.environ, "FRONTDESK_TURN_CPUS": setting}, capture_output=True, text=True, check=True
        ).stdout
        assert out.strip() == str(expected), setting
