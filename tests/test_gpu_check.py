"""benchmarks/gpu_check.py in its CPU mode: every code path runs, the report is complete, CPU checks pass.

The GPU run itself needs a CUDA machine; this keeps its code from rotting in between.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from vots_tracker.runtime.malloc_env import MALLOC_TUNABLES

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGE_KEYS = ("total_ms", "fps", "propagate_ms", "embed_ms", "decode_ms", "gate_ms", "peak_memory_mib")


def test_gpu_check_quick_on_cpu(smoke_weights, tmp_path):
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLIBC_TUNABLES": MALLOC_TUNABLES}
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out), "--device", "cpu",
               "--quick", "--threads", "1", "--weights-dir", str(smoke_weights)]  # the overlap check takes 2 itself
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)  # ~1 min on an idle core; a guard against hangs, not a speed test
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "gpu_check.json").read_text())
    assert results["meta"]["quick"] is True and results["meta"]["cuda"] is None

    checks = results["correctness"]
    kinds = {key.split("/")[0] for key in checks}
    assert kinds == {"dmaot_logits", "hqsam_proposals", "sam21_proposals", "batched_decode", "overlapped_embedding",
                     "amp"}
    for key, check in checks.items():
        expected = "skipped: no CUDA" if key.startswith("amp/") else "passed"
        assert check["status"] == expected, (key, check)
    assert all(c["max_relative_error"] == 0.0 for k, c in checks.items() if k.startswith("dmaot_logits"))
    assert all(c["labels_present"] > 1 for k, c in checks.items() if k.startswith("dmaot_logits"))
    (overlap,) = (c for k, c in checks.items() if k.startswith("overlapped_embedding"))
    assert overlap["overlap_active"] and overlap["differing_pixels"] == 0

    timing = results["timing"]
    assert {row["preset"] for row in timing.values()} == {"dmaot", "hqsam_gate", "hqsam_gate_light", "hqsam_gate_rt",
                                                          "sam21_l_gate", "sam21_t_rt"}
    assert {row["sam"] for row in timing.values() if row["preset"].startswith("sam21")} == {"sam2.1_hiera_t"}
    for key, row in timing.items():
        assert all(row[name] >= 0 for name in STAGE_KEYS), key
        assert row["propagate_ms"] > 0 and row["total_ms"] >= row["propagate_ms"], key
        assert (row["embed_ms"] > 0 and row["decode_ms"] > 0) == (row["sam"] != "none"), key

    (anchor,) = results["anchor"].values()
    assert anchor["speedup_vs_reference"] > 0, anchor

    settings = results["speed_settings"]
    assert settings["compiled_encoders"]["status"].startswith("skipped: no CUDA")
    for name in ("sam_channels_last", "dmaot_nchw", "pinned_uploads", "math_attention"):
        assert settings[name]["speedup_vs_default"] > 0, name
        assert settings[name]["pixel_agreement_vs_default"] >= 0.999, name

    verdict = results["realtime"]["verdict"]
    assert verdict["preset"] == "hqsam_gate_rt" and verdict["objects"] == 4 and verdict["fps"] > 0

    markdown = (out / "gpu_check.md").read_text()
    for title in ("## Correctness", "## Timing", "## Reference engine anchor", "## Optional speed settings",
                  "## Real-time candidates"):
        assert title in markdown
