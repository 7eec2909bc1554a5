"""The memory a sequence task declares to Ray, from its tracker's models."""

import sys

from vots_tracker.evaluation import task_memory
from vots_tracker.evaluation.memory_pressure import MemoryPolicy, Throttle, oom_report


def _ini(tmp_path, command):
    (tmp_path / "trackers.ini").write_text(f"[t]\nlabel = t\nprotocol = traxpython\npython = {sys.executable}\n"
                                           f"command = {command}\n")
    return tmp_path


def test_measured_presets_declare_their_peak_with_the_margin(tmp_path):
    ws = _ini(tmp_path, "from vots_tracker.cli import main; sys.exit(main(['serve', '--preset', 'dmaot_smoke']))")
    assert task_memory.tracker_memory(ws, "t") == int(813 * task_memory.MARGIN * 1024 * 1024)


def test_flags_that_change_the_models_change_the_figure(tmp_path):
    ws = _ini(tmp_path, "from vots_tracker.cli import main; "
                        "sys.exit(main(['serve', '--preset', 'dmaot_smoke', '--sam', 'vit_tiny']))")
    assert task_memory.tracker_memory(ws, "t") == task_memory.preset_memory("deaott", "vit_tiny") > 0


def test_unmeasured_or_foreign_trackers_declare_nothing(tmp_path):
    assert task_memory.preset_memory("deaott", "sam2.1_large") == 0
    assert task_memory.tracker_memory(_ini(tmp_path, "vots_static_tracker"), "t") == 0


def test_memory_kills_halve_what_runs_at_once_and_back_off_doubling():
    throttle = Throttle(MemoryPolicy(backoff=10, max_backoff=25, retries=2))
    assert throttle.may_start(running=7)
    assert throttle.killed("a", running=4) == 10 and throttle.limit == 2
    assert not throttle.may_start(running=0)  # holding for the back-off
    assert throttle.killed("a", running=2) == 20 and throttle.limit == 1
    assert throttle.killed("b", running=1) == 10 and throttle.limit == 1  # down to one, never zero
    assert throttle.killed("a", running=1) is None  # a's third kill: no retries left


def test_the_report_names_the_node_its_memory_and_ours():
    ray_text = ("OutOfMemoryError: Task was killed due to the node running low on memory.\n"
                "Memory on the node (IP: 10.0.0.5, ID: abcdef0123456789) was 22.10GB used / 23.50GB limit (0.94)")
    line = oom_report("t/baseline/s1", ray_text, 60.0, 1, {"used": 22 * 2 ** 30, "total": 23.5 * 2 ** 30,
                                                          "ours": 3, "ours_bytes": 1.5 * 2 ** 30})
    assert "\n" not in line
    assert "memory of node 10.0.0.5 (abcdef01) was full (22.10 of 23.50 GiB used)" in line
    assert "1.50 GiB by our 3 process(es)" in line and "retrying in 60 s with at most 1 task(s)" in line
    assert "--workers" in line and "--cpus-per-task" in line and "free memory" in line
