"""busy_processes: the record of what else ran while a benchmark timed."""
import signal
import subprocess
import sys

from torchshrink.measure.results import busy_processes


def test_a_stopped_process_is_named_paused_not_running():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        proc.send_signal(signal.SIGSTOP)
        text = busy_processes(threshold=0.0)
        assert "paused (stopped) meanwhile" in text
        assert f"{proc.pid}" not in text and "time.sleep(30)" not in text
    finally:
        proc.kill()
        proc.wait()


def test_idle_machine_says_nothing_else():
    assert busy_processes(threshold=1000.0).startswith("nothing else above 1000% CPU")
