"""Exactly the known harmless third-party warnings are filtered when HQ-SAM is imported."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import warnings
import vots_tracker.refine.hqsam as hqsam
hqsam.build_sam("vit_tiny")  # imports segment_anything_hq (and through it timm's old paths)
warnings.warn("Overwriting my_model in registry with elsewhere.my_model", UserWarning)
warnings.warn("Importing from somewhere is deprecated", FutureWarning)
"""


def test_known_warnings_are_filtered_and_others_are_not():
    result = subprocess.run([sys.executable, "-W", "default", "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "timm.models.layers is deprecated" not in result.stderr
    assert "timm.models.registry is deprecated" not in result.stderr
    assert "Overwriting tiny_vit" not in result.stderr
    # anything else still shows
    assert "Overwriting my_model in registry" in result.stderr
    assert "Importing from somewhere is deprecated" in result.stderr
