"""Does GLIBC_TUNABLES (large mmap/trim thresholds) speed up the HQ-SAM embedding on a CPU?

glibc serves allocations above its mmap threshold with fresh mmap() pages and returns them on
free(), so every HQ-SAM embedding faults its large activation buffers in again (hundreds of
thousands of minor page faults, kernel time). Raising the thresholds keeps those buffers in
the heap. glibc reads GLIBC_TUNABLES only at process start, so each measurement is a child
process started with or without it; the rounds alternate the order (A B, B A, ...) so both
variants see the same machine load.

Per child: one warm-up embedding, then `--embeds` embeddings of a 480x854 frame, each measured
with getrusage (minor page faults, user and system CPU time) and wall time; peak RSS at the end.
On a contended machine trust the page-fault and CPU-time counts more than wall time.

    python benchmarks/malloc_tunables.py [--rounds 3] [--embeds 4] [--threads 2] [--size vit_tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vots_tracker.runtime.malloc_env import MALLOC_TUNABLES  # noqa: E402

VARIANTS = {"default": None, "tunables": MALLOC_TUNABLES}


def child(checkpoint: str, size: str, embeds: int, threads: int) -> None:
    import numpy as np
    import torch

    from vots_tracker.refine.hqsam import HQSamRefiner

    torch.set_num_threads(threads)
    refiner = HQSamRefiner(size, checkpoint, torch.device("cpu"))
    frame = np.random.default_rng(0).integers(0, 255, (480, 854, 3), dtype=np.uint8)
    samples = []
    with torch.inference_mode():
        refiner.embed(frame)  # warm-up: first-call allocations and lazy initialisation
        for _ in range(embeds):
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            refiner.embed(frame)
            after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
            samples.append({"minflt": after.ru_minflt - before.ru_minflt, "user": after.ru_utime - before.ru_utime,
                            "sys": after.ru_stime - before.ru_stime, "wall": wall})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"samples": samples, "peak_rss_mib": peak_mib}), flush=True)


def run_child(variant: str, checkpoint: Path, args) -> dict:
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if VARIANTS[variant]:
        env["GLIBC_TUNABLES"] = VARIANTS[variant]
    command = [sys.executable, __file__, "--child", str(checkpoint), "--size", args.size,
               "--embeds", str(args.embeds), "--threads", str(args.threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(results: dict) -> None:
    rows = {}
    for variant, runs in results.items():
        samples = [s for run in runs for s in run["samples"]]
        rows[variant] = {key: statistics.median(s[key] for s in samples) for key in ("minflt", "user", "sys", "wall")}
        rows[variant]["cpu"] = statistics.median(s["user"] + s["sys"] for s in samples)
        rows[variant]["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
        rows[variant]["walls"] = [round(s["wall"], 2) for s in samples]
    print("| variant | minor faults / embed | user s | sys s | user+sys s | wall s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for variant, row in rows.items():
        print(f"| {variant} | {row['minflt']:.0f} | {row['user']:.2f} | {row['sys']:.2f} | {row['cpu']:.2f} | "
              f"{row['wall']:.2f} | {row['peak_rss_mib']:.0f} |")
    a, b = rows["default"], rows["tunables"]
    print(f"tunables / default: faults {b['minflt'] / max(a['minflt'], 1):.3f}, user+sys {b['cpu'] / a['cpu']:.3f}, "
          f"sys {b['sys'] / max(a['sys'], 1e-9):.3f}, wall {b['wall'] / a['wall']:.3f}, "
          f"peak RSS +{b['peak_rss_mib'] - a['peak_rss_mib']:.0f} MiB")
    for variant, row in rows.items():
        print(f"{variant} walls: {row['walls']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embeds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="vit_tiny")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.embeds, args.threads)
        return 0

    from vots_tracker.refine.hqsam import write_random_checkpoint

    results = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_random_checkpoint(args.size, Path(tmp) / f"sam_hq_{args.size}.pth")
        order = list(VARIANTS)
        for round_index in range(args.rounds):
            for variant in (order if round_index % 2 == 0 else order[::-1]):
                results[variant].append(run_child(variant, checkpoint, args))
                print(f"round {round_index + 1} {variant}: {results[variant][-1]['samples']}", file=sys.stderr)
    print(f"HQ-SAM {args.size} embedding, 480x854, {args.threads} threads, {args.rounds} rounds x {args.embeds} "
          f"embeds per variant (medians), GLIBC_TUNABLES={MALLOC_TUNABLES}")
    summarise(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
