"""DMAOT propagation with PyTorch's fused scaled-dot-product attention against its math fallback.

Every attention of the DeAOT layers (long-term, short-term window, self-attention) goes through
`F.scaled_dot_product_attention`; `torch.nn.attention.sdpa_kernel([SDPBackend.MATH])` forces the
unfused reference computation (explicit softmax(QK^T)V), i.e. what hand-written attention costs.
Same model, frames and masks; rounds alternate the order; per frame: process CPU time (all
threads) and wall time; the largest logit difference between the two backends is printed too.

    python benchmarks/attention_backends.py [--model deaott] [--frames 6] [--rounds 3] [--size 480 854]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import moving_blobs  # noqa: E402
from vots_tracker.runtime.accel import math_attention  # noqa: E402
from vots_tracker.dmaot import EngineConfig, Propagator, build_model, load_checkpoint, write_random_checkpoint  # noqa: E402


def track(model, clip, backend: str):
    contexts = {"fused": contextlib.nullcontext(), "math": math_attention()}  # fused: PyTorch's own choice
    propagator = Propagator(model, EngineConfig(), "cpu")
    cpu, wall, logits = [], [], []
    with contexts[backend]:
        first, masks = clip[0]
        propagator.add_objects(masks, first)
        for frame, _ in clip[1:]:
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            logits.append(propagator.propagate_logits(frame))
            propagator.update_memory()
            cpu.append(time.process_time() - cpu_before)
            wall.append(time.perf_counter() - wall_before)
    return cpu[1:], wall[1:], logits  # the first tracked frame warms up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="deaott")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--size", type=int, nargs=2, default=(480, 854))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_checkpoint(build_model(args.model), write_random_checkpoint(args.model, Path(tmp) / "w.pth"), "cpu")
    clip = moving_blobs(args.frames + 1, *args.size, objects=args.objects)
    samples = {"fused": ([], []), "math": ([], [])}
    difference = 0.0
    for index in range(args.rounds):
        order = ("fused", "math") if index % 2 == 0 else ("math", "fused")
        results = {backend: track(model, clip, backend) for backend in order}
        for backend, (cpu, wall, _) in results.items():
            samples[backend][0].extend(cpu)
            samples[backend][1].extend(wall)
        difference = max(difference, max(float((a - b).abs().max()) for a, b in
                                          zip(results["fused"][2], results["math"][2])))
    print(f"{args.model}, {args.size[0]}x{args.size[1]}, {args.objects} objects, {args.threads} threads, "
          f"{args.rounds} rounds x {args.frames - 1} frames (medians)")
    for backend, (cpu, wall) in samples.items():
        print(f"{backend:>5}: CPU {statistics.median(cpu):.3f} s/frame, wall {statistics.median(wall):.3f} s/frame")
    fused, math = (statistics.median(samples[b][0]) for b in ("fused", "math"))
    print(f"math / fused CPU time: {math / fused:.3f}; max |logit difference| {difference:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
