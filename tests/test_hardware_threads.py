"""Threads for llama.cpp leave out the cores other programs keep busy right now."""

import subprocess
import sys
import time

import pytest

from rlm_desktop.llm import hardware


def test_a_setting_is_used_for_both_kinds_of_step():
    assert hardware.threads(3) == (3, 3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_a_program_spinning_on_a_core_is_left_its_core():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)  # past the reuse window of the last reading
        hardware.busy_cores()
        time.sleep(1.5)
        assert hardware.busy_cores() >= 1
        generate, batches = hardware.threads(0)
        assert batches <= max(1, hardware.logical_cores() - 1)
        assert 1 <= generate <= batches
    finally:
        spinner.kill()
        spinner.wait()
