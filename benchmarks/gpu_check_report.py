"""Markdown tables of a benchmarks/gpu_check.py result (the JSON is the record; this is for reading)."""

from __future__ import annotations

from typing import Dict, List


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _table(header: List[str], rows: List[List]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _correctness(results: Dict) -> List[str]:
    rows = []
    for key, r in results.items():
        figures = []
        for name in ("max_relative_error", "min_agreement_outside_ties", "max_near_tie_fraction", "labels_present",
                     "pixel_agreement", "identical", "min_iou", "mean_mask_iou", "differing_pixels", "safe_to_offer"):
            if name in r:
                figures.append(f"{name} {_fmt(r[name])}")
        rows.append([f"`{key}`", r.get("status"), ", ".join(figures), r.get("seconds")])
    return _table(["check", "status", "figures", "s"], rows)


def _timing(results: Dict) -> List[str]:
    rows = [[r.get("preset", key), r.get("model"), r.get("sam"), r.get("objects"), r.get("total_ms"), r.get("fps"),
             r.get("propagate_ms"), r.get("embed_ms"), r.get("decode_ms"), r.get("gate_ms"),
             r.get("peak_memory_mib"), r.get("status", "ok")]
            for key, r in results.items()]
    return _table(["preset", "DMAOT", "refiner", "objects", "ms/frame", "fps", "propagate", "embed", "decode", "gate",
                   "peak MiB", "status"], rows)


def _anchor(results: Dict) -> List[str]:
    rows = [[r.get("model"), r.get("objects"), r.get("total_ms"), r.get("ours_ms"), r.get("speedup_vs_reference"),
             r.get("status", "ok")] for r in results.values()]
    return _table(["model", "objects", "deaotpy ms/frame", "ours (`dmaot`) ms/frame", "speed-up", "status"], rows)


def _settings(results: Dict) -> List[str]:
    rows = [[f"`{key}`", r.get("total_ms"), r.get("fps"), r.get("speedup_vs_default"),
             r.get("pixel_agreement_vs_default"), r.get("compile_or_init_ms"), r.get("keep"), r.get("status", "ok")]
            for key, r in results.items()]
    return _table(["setting", "ms/frame", "fps", "speed-up", "pixels agree", "first frames +ms", "keep (>= 1.2x)",
                   "status"], rows)


def _realtime(results: Dict) -> List[str]:
    lines = []
    verdict = results.get("verdict")
    if verdict:
        lines += [f"Real-time preset `{verdict['preset']}`, {verdict['objects']} objects, "
                  f"{verdict['size'][0]}x{verdict['size'][1]}: {_fmt(verdict['fps'])} fps on {verdict['device']}"
                  f" (>= 20 fps: {_fmt(verdict['meets_20_fps'])}{', quick mode: not the real models' if verdict['quick'] else ''}).", ""]
    rows = [[f"`{key}`", r.get("total_ms"), r.get("fps"), r.get("peak_memory_mib"), r.get("status", "ok")]
            for key, r in results.items() if key != "verdict"]
    return lines + _table(["candidate", "ms/frame", "fps", "peak MiB", "status"], rows)


def markdown(results: Dict) -> str:
    meta = results["meta"]
    lines = [f"# gpu_check: {meta['device']}", "",
             f"{meta['date_utc']}, torch {meta['torch']}, CUDA {meta['cuda']}, quick={meta['quick']}, "
             f"cuDNN TF32 {meta['cudnn_allow_tf32']}, matmul precision {meta['matmul_precision']}, "
             f"{meta.get('elapsed_s')} s. {meta['weights']}.", "", f"`{meta['command']}`", ""]
    sections = (("Correctness (device under test against CPU fp32)", "correctness", _correctness),
                ("Timing (median ms per frame; CUDA events on a GPU; peak MiB: GPU memory on a GPU, "
                 "process peak RSS on a CPU)", "timing", _timing),
                ("Reference engine anchor (deaotpy, same device and frames)", "anchor", _anchor),
                ("Optional speed settings on the real-time preset", "speed_settings", _settings),
                ("Real-time candidates", "realtime", _realtime))
    for title, key, render in sections:
        if results.get(key):
            lines += [f"## {title}", ""] + render(results[key])
    return "\n".join(lines)
