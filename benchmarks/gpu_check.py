"""One command that checks the CUDA paths against CPU fp32 and times every preset on the GPU.

    python benchmarks/gpu_check.py --out DIR                      # on a CUDA machine (< 8 min on one H100)
    python benchmarks/gpu_check.py --out DIR --device cpu --quick # the same code paths on CPU (CI, < 2 min)

Writes DIR/gpu_check.json (rewritten after every item, so a run cut short keeps what it did)
and DIR/gpu_check.md (tables). Weights are random-init files in the official formats
(`vots_tracker.weights` init-random), written into --weights-dir (default: DIR/weights) when
missing: speed and agreement only, never accuracy.

Sections: ``correctness`` (DMAOT logits on the device against CPU fp32 for deaott and
swinb_dm_deaotl at 480x854 and 1080x1920; HQ-SAM proposals against CPU; one-call batched
decoding against per-object decoding; the overlapped embedding (side stream) against sequential;
bf16/fp16 autocast against fp32 with a safe-to-offer verdict), ``timing`` (per preset and object
count: ms per frame split propagate / embed / decode / gate, fps, peak GPU memory), ``anchor``
(the reference engine deaotpy on the same device and frames), ``speed_settings`` (the optional
settings of vots_tracker.runtime.accel on the real-time preset: speed-up and agreement with the default
path; keep what reaches 1.2x) and ``realtime`` (does hqsam_gate_rt hold 20 fps with 4 objects).
With --quick every preset runs with DeAOT-T + HQ-SAM vit_tiny on small frames, and checks that
need CUDA say "skipped: no CUDA".
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tests", ROOT / "benchmarks"):
    sys.path.insert(0, str(extra))

import torch  # noqa: E402

import gpu_check_correct as correct  # noqa: E402
import gpu_check_report as report  # noqa: E402
import gpu_check_timing as timing  # noqa: E402
from vots_tracker.runtime import accel  # noqa: E402
from vots_tracker.config import make_config  # noqa: E402
from vots_tracker.server.session import Tracker  # noqa: E402
from vots_tracker.weights import registry  # noqa: E402
from vots_tracker.components import required_checkpoints  # noqa: E402
from vots_tracker.weights.random_init import init_random  # noqa: E402
from vots_tracker.refine.sam_specs import is_sam2  # noqa: E402

REALTIME_PRESET = "hqsam_gate_rt"
REALTIME_FPS = 20.0  # what the VOTS real-time experiment admits
REALTIME_OBJECTS = 4
PRESETS = ("dmaot", "hqsam_gate", "hqsam_gate_light", REALTIME_PRESET, "sam21_l_gate", "sam21_t_rt")
MODEL_CHANGING = ("sam_channels_last", "dmaot_nchw", "pinned_uploads", "compiled_encoders")  # change shared objects

FULL = {
    "check_sizes": [(480, 854), (1080, 1920)], "dmaot_models": ["deaott", "swinb_dm_deaotl"], "check_frames": 4,
    "check_objects": 4, "sam_sizes": {"vit_tiny": [(480, 854), (1080, 1920)], "vit_h": [(480, 854)],
                                      "sam2.1_hiera_t": [(480, 854), (1080, 1920)], "sam2.1_hiera_l": [(480, 854)]},
    "batched_sizes": ["vit_tiny", "sam2.1_hiera_t"], "batched_objects": 16,
    "amp_modes": ["bf16", "fp16"], "timing_size": (480, 854), "objects": [1, 4, 16], "warmup": 3, "measured": 20,
    "setting_measured": 20, "budget_s": 9 * 60,
    # Alternatives for the real-time entry, timed at REALTIME_OBJECTS: (preset, overrides).
    "realtime_candidates": [(REALTIME_PRESET, {"amp": "bf16"}), ("hqsam_gate_light", {"amp": "bf16"}),
                            ("sam21_t_rt", {}), ("sam21_t_rt", {"amp": "bf16"})],
}
QUICK = {
    "check_sizes": [(96, 160)], "dmaot_models": ["deaott"], "check_frames": 3, "check_objects": 2,
    "sam_sizes": {"vit_tiny": [(96, 160)], "sam2.1_hiera_t": [(96, 160)]}, "batched_sizes": ["vit_tiny"],
    "batched_objects": 4,
    "amp_modes": ["bf16", "fp16"], "timing_size": (96, 160),
    "objects": [2], "warmup": 0, "measured": 1, "setting_measured": 1, "budget_s": None,  # CI must see every path
    "realtime_candidates": [],  # on a CPU the alternatives would only repeat the same code path
    # DeAOT-T + vit_tiny (SAM 2.1 presets: Hiera-T) stand in for every preset's models: same code paths,
    # CPU-sized cost.
    "model_overrides": {"model": "deaott"},
    "sam_overrides": {"sam": "vit_tiny"},
    "sam2_overrides": {"sam": "sam2.1_hiera_t"},
}


class Run:
    """Collects results, writes the JSON after every item, and skips what the time budget leaves out."""

    def __init__(self, out: Path, plan: Dict, meta: Dict):
        self.out, self.plan, self.started = out, plan, time.monotonic()
        self.results: Dict = {"meta": meta, "correctness": {}, "timing": {}, "anchor": {}, "speed_settings": {},
                              "realtime": {}}

    def item(self, section: str, key: str, work: Callable[[], Dict]) -> Dict:
        elapsed = time.monotonic() - self.started
        if self.plan["budget_s"] is not None and elapsed > self.plan["budget_s"]:
            result = {"status": f"skipped: time budget ({self.plan['budget_s']} s) spent"}
        else:
            began = time.monotonic()
            try:
                result = work()
            except Exception as error:  # one failing item must not lose the others
                traceback.print_exc()
                result = {"status": f"error: {type(error).__name__}: {error}"}
            result["seconds"] = round(time.monotonic() - began, 1)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        self.results[section][key] = result
        print(f"[{time.monotonic() - self.started:6.1f} s] {section}/{key}: {result.get('status', 'done')}",
              file=sys.stderr, flush=True)
        self.write()
        return result

    def write(self) -> None:
        self.results["meta"]["elapsed_s"] = round(time.monotonic() - self.started, 1)
        (self.out / "gpu_check.json").write_text(json.dumps(self.results, indent=1, default=str))
        (self.out / "gpu_check.md").write_text(report.markdown(self.results))


def preset_overrides(preset: str, plan: Dict) -> Dict:
    overrides = dict(plan.get("model_overrides", {}))
    config = make_config(preset)
    if plan.get("sam_overrides") and config.refine:
        overrides.update(plan["sam2_overrides" if is_sam2(config.sam) else "sam_overrides"])
    return overrides


def needed_files(plan: Dict) -> List[str]:
    files = {registry.default_dmaot_checkpoint(name) for name in plan["dmaot_models"]}
    files |= {registry.default_sam_checkpoint(size) for size in plan["sam_sizes"]}
    for preset in PRESETS + tuple(p for p, _ in plan["realtime_candidates"]):
        files.update(required_checkpoints(make_config(preset, **preset_overrides(preset, plan))))
    return sorted(files)


_LOADED: Dict = {}  # loaded models shared by trackers whose configurations load the same things


def build_tracker(preset: str, run_args, plan: Dict, fresh: bool = False, **extra) -> Tracker:
    """A tracker for the preset; models are reused across presets unless `fresh` (settings that change them)."""
    config = make_config(preset, device=run_args.device, weights_dir=str(run_args.weights_dir),
                         log_level="WARNING", **{**preset_overrides(preset, plan), **extra})
    key = (config.model, config.sam, config.prompt, config.proposals, config.amp, config.decode_batch,
           *required_checkpoints(config))
    if fresh or key not in _LOADED:
        tracker = Tracker.from_config(config)
        if fresh:
            return tracker
        _LOADED.clear()  # keep one set of models in memory
        _LOADED[key] = tracker
    loaded = _LOADED[key]
    return Tracker(config, loaded.dmaot_model, loaded.refiner, loaded.device)


def correctness(run: Run, args, device: torch.device) -> None:
    plan, weights = run.plan, str(args.weights_dir)
    objects, frames = plan["check_objects"], plan["check_frames"]
    for name in plan["dmaot_models"]:
        for size in plan["check_sizes"]:
            run.item("correctness", f"dmaot_logits/{name}/{size[0]}x{size[1]}",
                     lambda: correct.dmaot_logits(name, weights, device, size, frames, objects))
    for sam, sizes in plan["sam_sizes"].items():
        for size in sizes:
            kind = "sam21_proposals" if is_sam2(sam) else "hqsam_proposals"
            run.item("correctness", f"{kind}/{sam}/{size[0]}x{size[1]}",
                     lambda: correct.hqsam_proposals(sam, weights, device, size, objects))
    size = plan["timing_size"]
    count = plan["batched_objects"]
    for sam in plan["batched_sizes"]:
        run.item("correctness", f"batched_decode/{sam}/{count}_objects",
                 lambda: correct.batched_decode(sam, weights, device, size, count))
    overrides = {"weights_dir": weights, **preset_overrides("hqsam_gate_light", plan)}
    run.item("correctness", "overlapped_embedding/hqsam_gate_light",
             lambda: correct.overlapped_embedding("hqsam_gate_light", overrides, device, size, frames, objects))
    for name in plan["dmaot_models"]:
        for amp in plan["amp_modes"]:
            run.item("correctness", f"amp/{amp}/{name}",
                     lambda: correct.dmaot_amp(name, weights, device, plan["check_sizes"][0], frames, objects, amp))


def timings(run: Run, args) -> None:
    plan = run.plan
    frames = 1 + plan["warmup"] + plan["measured"]
    for preset in PRESETS:
        built: Dict = {}

        def work(objects):
            if "tracker" not in built:
                built["tracker"] = build_tracker(preset, args, plan)
            clip = timing.timing_clip(plan["timing_size"], objects, frames)
            return timing.measure(built["tracker"], clip, plan["warmup"])
        for objects in plan["objects"]:
            result = run.item("timing", f"{preset}/{objects}", lambda: work(objects))
            config = make_config(preset, **preset_overrides(preset, plan))
            result.update(preset=preset, objects=objects, model=config.model, sam=config.sam)
        built.clear()
    for objects in plan["objects"]:
        clip = timing.timing_clip(plan["timing_size"], objects, frames)
        model = make_config("dmaot", **preset_overrides("dmaot", plan)).model
        result = run.item("anchor", f"deaotpy/{model}/{objects}",
                          lambda: timing.reference_anchor(model, args.device_obj, clip, plan["warmup"]))
        ours = run.results["timing"].get(f"dmaot/{objects}", {}).get("total_ms")
        if ours and "total_ms" in result:
            result["ours_ms"] = ours
            result["speedup_vs_reference"] = round(result["total_ms"] / ours, 3)
        result.update(model=model, objects=objects)
    run.write()


def speed_settings(run: Run, args) -> None:
    """Each optional setting on a fresh real-time tracker; speed-up and mask agreement against the default."""
    plan = run.plan
    clip = timing.timing_clip(plan["timing_size"], REALTIME_OBJECTS, 1 + plan["warmup"] + plan["setting_measured"])
    variants: Dict[str, Callable] = {"default": None, **accel.SETTINGS}
    baseline: Dict = {}
    for name, setting in variants.items():
        def work(name=name, setting=setting):
            if name == "compiled_encoders" and args.device_obj.type != "cuda":
                return {"status": correct.SKIPPED_NO_CUDA + " (inductor on CPU needs minutes)"}
            tracker = build_tracker(REALTIME_PRESET, args, plan, fresh=name in MODEL_CHANGING)
            return timing.measure(tracker, clip, plan["warmup"], setting=setting, keep_masks=True)
        result = run.item("speed_settings", name, work)
        _relate(result, baseline, name, args.device_obj.type == "cuda")

    def math_attention():
        tracker = build_tracker(REALTIME_PRESET, args, plan)
        with accel.math_attention():
            return timing.measure(tracker, clip, plan["warmup"], keep_masks=True)
    _relate(run.item("speed_settings", "math_attention", math_attention), baseline, "math_attention",
            args.device_obj.type == "cuda")
    run.write()


def _relate(result: Dict, baseline: Dict, name: str, gpu: bool) -> None:
    """Speed-up of the default against `result` (math_attention) or of `result` against the default."""
    masks = result.pop("_masks", None)
    if name == "default":
        baseline.update(result, _masks=masks)
        return
    if masks is None or "total_ms" not in result or "total_ms" not in baseline:
        return
    ratio = baseline["total_ms"] / result["total_ms"]
    result["speedup_vs_default"] = round(1.0 / ratio if name == "math_attention" else ratio, 3)
    if name == "math_attention":
        result["note"] = "speedup_vs_default here: what the fused SDPA kernels (the default) gain over math"
    result["pixel_agreement_vs_default"] = min(correct._pixel_agreement(a, b) for a, b in zip(masks, baseline["_masks"]))
    result["compile_or_init_ms"] = round(result["first_two_frames_ms"] - baseline["first_two_frames_ms"], 1)
    # The rule is about the GPU; on a CPU (quick mode, 1-2 frames) the ratio only proves the code path runs.
    result["keep"] = bool(result["speedup_vs_default"] >= 1.2 and result["pixel_agreement_vs_default"] >= 0.999) \
        if gpu else None


def realtime(run: Run, args) -> None:
    plan = run.plan
    clip = timing.timing_clip(plan["timing_size"], REALTIME_OBJECTS, 1 + plan["warmup"] + plan["measured"])
    for preset, extra in [(REALTIME_PRESET, {})] + plan["realtime_candidates"]:
        label = preset + "".join(f" --{k} {v}" for k, v in extra.items())
        result = run.item("realtime", label, lambda: timing.measure(build_tracker(preset, args, plan, **extra),
                                                                    clip, plan["warmup"]))
        result.update(preset=preset, overrides=extra)
    fps = run.results["realtime"].get(REALTIME_PRESET, {}).get("fps")
    run.results["realtime"]["verdict"] = {
        "preset": REALTIME_PRESET, "objects": REALTIME_OBJECTS, "size": list(plan["timing_size"]), "fps": fps,
        "meets_20_fps": None if fps is None else bool(fps >= REALTIME_FPS),
        "device": run.results["meta"]["device"], "quick": run.results["meta"]["quick"],
    }
    run.write()


def meta(args, device: torch.device, plan: Dict) -> Dict:
    cuda = device.type == "cuda"
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()}), "
                                                                  f"{torch.get_num_threads()} threads",
        "torch": torch.__version__, "cuda": torch.version.cuda if cuda else None, "quick": bool(args.quick),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "plan": {k: v for k, v in plan.items() if k != "realtime_candidates"},
        "weights": "RANDOM-init, official formats: speed and agreement only, never accuracy",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", default="cuda", help="device under test (default cuda)")
    parser.add_argument("--quick", action="store_true", help="small models and frames (CI on CPU)")
    parser.add_argument("--weights-dir", type=Path, help="random-init checkpoints (default: OUT/weights)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    parser.add_argument("--sections", nargs="+", default=["correctness", "timing", "speed_settings", "realtime"])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device_obj = torch.device(args.device)
    if args.device_obj.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here (use --device cpu --quick)")
    plan = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    args.weights_dir = args.weights_dir or args.out / "weights"
    missing = [name for name in needed_files(plan) if not (args.weights_dir / name).exists()]
    if missing:
        init_random(args.weights_dir, missing)
    run = Run(args.out, plan, meta(args, args.device_obj, plan))
    sections = {"correctness": lambda: correctness(run, args, args.device_obj), "timing": lambda: timings(run, args),
                "speed_settings": lambda: speed_settings(run, args), "realtime": lambda: realtime(run, args)}
    for name in args.sections:
        sections[name]()
    run.write()
    print((args.out / "gpu_check.md").read_text())
    failed = [f"{s}/{k}" for s in ("correctness",) for k, v in run.results[s].items()
              if v.get("status") == "failed" or str(v.get("status", "")).startswith("error")]
    print(f"gpu_check: {'FAILED ' + ', '.join(failed) if failed else 'no failed correctness check'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
