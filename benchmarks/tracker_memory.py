"""Peak resident memory of one tracker process per preset: the figures behind evaluation/task_memory.py.

For each preset, one synthetic sequence (854x480, 6 frames, 3 objects) is evaluated with
``vot evaluate`` on CPU with random-init weights (same tensors as the official checkpoints).
The figure is the largest peak RSS among ``vot`` and the tracker process it starts
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper process: the tracker is the larger);
the same run with the model-free static tracker gives the toolkit's own share for comparison.

    python benchmarks/tracker_memory.py --weights-dir W dmaot_smoke hqsam_gate_smoke dmaot hqsam_gate_light

Missing random-init checkpoints are written into W first (``weights init-random``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vots_tracker.evaluation import outputs as results, toolkit  # noqa: E402
from vots_tracker.workspace import folder as wsmod  # noqa: E402

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
STATIC = """
[static]
label = static masks (benchmark)
protocol = traxpython
python = {python}
command = vots_static_tracker
paths = {paths}
"""


def peak_rss_mib(ws: Path, tracker: str) -> float:
    argv = toolkit.vot_command(["evaluate", "--workspace", str(ws), tracker])
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *argv], env=toolkit.toolkit_env(ws, offline=True),
                          cwd=ws, capture_output=True, text=True, check=True)
    problems = results.check_results(ws, tracker)
    if problems:
        raise SystemExit(f"{tracker}: results incomplete: {problems[:3]}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="+", help="presets (the workspace has an entry of each name)")
    parser.add_argument("--weights-dir", required=True, type=Path, help="random-init checkpoints (written if absent)")
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--objects", type=int, default=3)
    args = parser.parse_args()
    from vots_tracker.components import required_checkpoints
    from vots_tracker.config import make_config
    from vots_tracker.weights.random_init import init_random
    from vots_tracker.weights.registry import REGISTRY

    names = sorted({n for p in args.presets for n in required_checkpoints(make_config(p))})
    missing = [REGISTRY[n] for n in names if not (args.weights_dir / n).is_file()]
    if missing:
        init_random(args.weights_dir, missing)
    size = wsmod._parse_size(args.size)
    print(f"# {args.size}, {args.frames} frames, {args.objects} objects, CPU, random-init weights", flush=True)
    with tempfile.TemporaryDirectory(prefix="vots-mem-") as folder:
        ws = wsmod.init_workspace(Path(folder) / "ws", synthetic=1, frames=args.frames, size=size,
                                  objects=args.objects, weights_dir=args.weights_dir)
        with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
            handle.write(STATIC.format(python=sys.executable, paths=ROOT / "tests" / "e2e"))
        print(f"static (toolkit only): peak RSS {peak_rss_mib(ws, 'static'):.0f} MiB", flush=True)
        for preset in args.presets:
            start = time.perf_counter()
            config = make_config(preset)
            peak = peak_rss_mib(ws, preset)
            print(f"{preset} ({config.model} + {config.sam}): peak RSS {peak:.0f} MiB "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
