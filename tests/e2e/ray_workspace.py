"""The synthetic workspace of the Ray tests (test_distributed, test_multinode) and its sequential results.

Both modules compare `dmaot_smoke` on Ray with a sequential `vot evaluate` of the same workspace;
the session fixture `dmaot_smoke_sequential` (conftest.py) runs that evaluation once for both, and
each module first checks that its own sequences are byte for byte the ones evaluated.
"""

import hashlib
import shutil
from pathlib import Path

import pytest

import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod

SEQUENCES = 4
SHAPE = dict(synthetic=SEQUENCES, frames=5, size=(96, 72), objects=2)


def make_workspace(path: Path, weights: Path) -> Path:
    return wsmod.init_workspace(path, weights_dir=weights, **SHAPE)


def result_bins(ws: Path, tracker: str):
    """{sequence/file: bytes} of a tracker's baseline mask trajectories (`*.bin`)."""
    folder = Path(ws) / "results" / tracker / "baseline"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("*/*.bin"))}


def sequences_digest(ws: Path) -> str:
    """One hash over every file under sequences/ (names and bytes)."""
    digest = hashlib.sha256()
    root = Path(ws) / "sequences"
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def sequential_bins(ws: Path, tracker: str, scratch: Path):
    """`vot evaluate TRACKER` in a copy of the workspace under ``scratch``, one torch thread and no GPU
    (what --cpus-per-task 1 --gpus-per-task 0 gives every Ray task)."""
    copy = Path(scratch) / "ws"
    shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("results", "cache", ".vots-*"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("CUDA_VISIBLE_DEVICES", "")
        toolkit.run_vot(["evaluate", "--workspace", str(copy), tracker], copy, "evaluate", offline=True)
    return result_bins(copy, tracker)
