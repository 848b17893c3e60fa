"""The sync benches' CPU figures (bench/sync_limit.py): the seconds a process and the machine were busy."""

import os
import time

from bench.sync_limit import cpu_seconds, machine_busy_seconds


def busy_for(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_process_cpu_seconds_grow_with_the_work_it_does_and_a_gone_process_counts_nothing():
    before, machine_before = cpu_seconds([os.getpid()]), machine_busy_seconds()
    busy_for(0.3)
    assert 0.25 <= cpu_seconds([os.getpid()]) - before < 1.0
    assert machine_busy_seconds() - machine_before >= 0.25  # the machine was busy at least as long
    assert cpu_seconds([2**22 + 1]) == 0.0  # no such process
