"""Resident memory of the DMAOT engine against frame count: it must stop growing at the cap.

Runs our Propagator (random weights in the official layout, VOTS engine settings unless
overridden) over a long synthetic clip and prints RSS every `--every` frames, the frame at
which every identity's long-term memory is full, and RSS(last) / RSS(at cap). Goal: <= 1.05.

    .venv/bin/python benchmarks/dmaot_memory.py [--models deaott swinb_dm_deaotl] [--frames 1000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dmaot.clips import moving_discs  # noqa: E402
from vots_tracker.dmaot import EngineConfig, Propagator, build_model  # noqa: E402


def memory_full(prop: Propagator) -> bool:
    """True once every identity (DM) or every group (plain) holds long_max long-term frames."""
    for group in prop.groups:
        memory = group.long_term
        if hasattr(memory, "by_identity"):
            if any(len(frames) < memory.long_max for frames in memory.by_identity.values()):
                return False
        elif len(memory.segments) < memory.long_max:
            return False
    return True


def memory_mib(prop: Propagator) -> float:
    """Bytes held by the long-term and short-term memory tensors, in MiB."""
    total = 0
    for group in prop.groups:
        layers = list(group.long_term.layers) + [kv for entries in group.short_terms for kv in entries]
        total += sum(t.numel() * t.element_size() for kv in layers for t in kv)
    return total / 2**20


def run(name: str, args: argparse.Namespace) -> float:
    process = psutil.Process()
    torch.manual_seed(0)
    model = build_model(name).eval()
    config = EngineConfig(long_max=args.long_max, long_gap=args.long_gap, short_gap=2, max_edge=None)
    clip = moving_discs(args.frames, args.height, args.width, objects=args.objects, seed=1)
    first, labels = clip[0]
    frames = [frame for frame, _ in clip]  # the label maps of later frames are not needed
    del clip
    prop = Propagator(model, config, "cpu")
    prop.add_objects({k: labels == k for k in range(1, args.objects + 1)}, first)
    gc.collect()
    start_rss = process.memory_info().rss
    cap_frame, cap_rss, rows = None, None, []
    started = time.perf_counter()
    for index, frame in enumerate(frames[1:], start=1):
        prop.propagate(frame)
        prop.update_memory()
        if cap_frame is None and memory_full(prop):
            gc.collect()
            cap_frame, cap_rss, cap_mib = index, process.memory_info().rss, memory_mib(prop)
        if index % args.every == 0 or index == args.frames - 1:
            gc.collect()
            rss = process.memory_info().rss
            tokens = sum(group.long_term.tokens() for group in prop.groups)
            rows.append((index, rss, tokens))
            print(f"  {name} frame {index:5d}: RSS {rss / 2**20:8.1f} MiB, long-term tokens {tokens:6d}, "
                  f"memory tensors {memory_mib(prop):6.1f} MiB", flush=True)
    if cap_frame is None:
        raise SystemExit(f"{name}: long-term memory never filled in {args.frames} frames; raise --frames")
    last_rss = rows[-1][1]
    peak_after = max(rss for index, rss, _ in rows if index >= cap_frame)
    elapsed = time.perf_counter() - started
    ratio = last_rss / cap_rss
    print(f"{name}: {args.frames} frames {args.height}x{args.width}, {args.objects} objects, "
          f"long_max {args.long_max}, long_gap {args.long_gap}: memory full at frame {cap_frame} "
          f"({cap_mib:.1f} MiB of memory tensors), RSS after the reference frame {start_rss / 2**20:.1f} MiB, "
          f"RSS at cap {cap_rss / 2**20:.1f} MiB, last {last_rss / 2**20:.1f} MiB, "
          f"peak after cap {peak_after / 2**20:.1f} MiB, RSS(last)/RSS(cap) = {ratio:.3f} "
          f"({elapsed:.0f} s)", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["deaott", "swinb_dm_deaotl"])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--long-max", type=int, default=10)
    parser.add_argument("--long-gap", type=int, default=30)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}", flush=True)
    ratios = {name: run(name, args) for name in args.models}
    worst = max(ratios.values())
    print(f"worst RSS(last)/RSS(cap) {worst:.3f} (goal <= 1.05): {'PASS' if worst <= 1.05 else 'FAIL'}")


if __name__ == "__main__":
    main()
