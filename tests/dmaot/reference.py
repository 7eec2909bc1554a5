"""Test-only driver for the reference implementation (deaotpy's `aot` package).

Drives the reference inference engines step by step as the original DMAOT VOTS runner
(DMAOT-VOTS2023 `tracker/python_swinb_dm_deaot_vots.py`) does, written from its description:
  - a frame file is read with cv2.imread(IMREAD_UNCHANGED) and converted BGR -> RGB (`runner_read`);
  - the uint8 frame goes through `MultiRestrictSize(None, max_edge, False, [1], align_corners)`
    (cv2 bicubic on uint8) and `MultiToTensor` (float64 / 255, normalised), then `.float()`;
  - the first frame's label map is resized (nearest) to the processed size;
  - per frame: propagate, logits decoded at the frame's size, labels = argmax(softmax(logits)),
    resized (nearest) to the engine's input size for the memory update.
The runner takes objects on the first frame only. For objects added on a later frame this
driver follows the protocol our Propagator implements: the new masks are pasted over the
prediction, each identity group that gains objects gets a reference frame, then every group's
memory is updated once with the merged label map.
"""

from __future__ import annotations

import importlib
import math
import warnings
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="torch.meshgrid")


def _quiet_import():
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # deaotpy prints a warning per layer
        from aot.configs.default import DefaultEngineConfig
        from aot.networks.engines import build_engine
        from aot.networks.models import build_vos_model
        import aot.dataloaders.video_transforms as transforms
    return DefaultEngineConfig, build_engine, build_vos_model, transforms


def runner_read(path) -> np.ndarray:
    """A frame file as the runner reads it (no EXIF rotation, no colour conversion but BGR -> RGB)."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def runner_labels(logits: torch.Tensor) -> np.ndarray:
    """The runner's label map: argmax over the softmax of the logits (1, C, H, W) -> (H, W)."""
    return torch.argmax(torch.softmax(logits, dim=1), dim=1)[0].numpy()


def reference_config(model_name: str, long_max: int):
    DefaultEngineConfig, _, _, _ = _quiet_import()
    dm_small = model_name.startswith("dm_")
    base = model_name[3:] if dm_small else model_name
    if importlib.util.find_spec(f"aot.configs.models.{base}") is None:
        raise ValueError(f"deaotpy has no config for {base}")
    cfg = DefaultEngineConfig(exp_name="test", model=base)
    if dm_small:
        cfg.MODEL_ENGINE = "dmdeaotengine" if cfg.MODEL_VOS == "deaot" else "dmaotengine"
    # Attributes the original DMAOT code defines and deaotpy lacks (see FIELD_NOTES.md).
    cfg.TEST_LONG_TERM_MEM_MAX = long_max
    cfg.PATCH_WISED_DROP_MEMORIES = False
    cfg.PATCH_TEST_LONG_TERM_MEM_MAX = 999999
    cfg.PATCH_SIM_LAYERS_IDX = [0, 1, 2, 3]
    cfg.PATCH_SIM_MEMORY_IDX = [0, 1]
    return cfg


def build_reference_model(model_name: str, seed: int, long_max: int = 10):
    """Reference network with random weights (zero-initialised tables randomised too)."""
    import contextlib
    import io

    _, _, build_vos_model, _ = _quiet_import()
    cfg = reference_config(model_name, long_max)
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        model = build_vos_model(cfg.MODEL_VOS, cfg).eval()
    if cfg.MODEL_VOS == "aot":
        _use_local_attention_v2(model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "relative_emb_v" in name or "relative_position_bias_table" in name:
                param.normal_(0.0, 0.05)
            if "patch_wise_id_bank" in name and param.dim() > 1:
                param.normal_(0.0, 0.02)  # the official init is nearly zero: make identities matter
        # Random heads favour one class everywhere; share most of the output weights so the
        # argmax follows the (identity-dependent) features and the label maps are non-trivial.
        out = model.decoder.conv_out
        out.weight.copy_(out.weight[:1] + 0.5 * (out.weight - out.weight[:1]))
        out.bias.zero_()
        for name, buf in model.named_buffers():  # non-trivial frozen BN statistics
            if name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                buf.normal_(0.0, 0.1)
    return cfg, model


def calibrate_head(cfg, model, rgb: np.ndarray, labels: np.ndarray, max_edge: Optional[int] = None) -> None:
    """Centre each identity's logits on the reference frame, so random weights give mixed label maps."""
    runner = ReferenceRunner(cfg, model, long_gap=1, short_gap=1, max_edge=max_edge)
    runner.start(rgb, labels)
    with torch.no_grad():
        first = runner.engine.aot_engines[0]
        logits = first.decode_current_logits()[0, :first.obj_nums[0] + 1]
        bias = model.decoder.conv_out.bias
        bias[:logits.shape[0]] -= logits.mean(dim=(1, 2)) - 0.5 * logits.std(dim=(1, 2)) * torch.arange(
            logits.shape[0]).clamp(max=1)


def _use_local_attention_v2(model) -> None:
    """Swap AOT's short-term attention for the reference V2 class on its unfold path.

    Without the CUDA correlation sampler deaotpy falls back to MultiheadLocalAttentionV3,
    which crashes for multi-head AOT (it adds a (B, heads, L, d) and an (L, B, C) tensor).
    V2 is what aot-benchmark runs with the sampler; `enable_corr=False` computes the same
    window products with unfold. Parameter names and shapes are identical.
    """
    from aot.networks.layers.attention import MultiheadLocalAttentionV2

    for layer in model.LSTT.layers:
        old = layer.short_term_attn
        new = MultiheadLocalAttentionV2(old.projection.in_features, old.num_head, use_linear=False,
                                        enable_corr=False)
        new.load_state_dict(old.state_dict())
        layer.short_term_attn = new.eval()


def save_official(model, path: Path, prefix: str = "", wrap: bool = True) -> Path:
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "optimizer": {}} if wrap else state, path)
    return path


class ReferenceRunner:
    """Runs one sequence through the reference inference engine."""

    def __init__(self, cfg, model, long_gap: int, short_gap: int, max_edge: Optional[int]):
        _, build_engine, _, self._tr = _quiet_import()
        self.cfg = cfg
        self.engine = build_engine(cfg.MODEL_ENGINE, phase="eval", aot_model=model, gpu_id=0,
                                   long_term_mem_gap=long_gap, short_term_mem_skip=short_gap)
        self.engine.eval()
        self.max_edge = max_edge
        self.frame = -1
        self.objects = 0
        self.evictions = 0
        self._wrapped = set()
        self._img = None

    def _prepare(self, rgb: np.ndarray) -> torch.Tensor:
        """The runner's transform on the uint8 RGB frame: resize (uint8), then to tensor."""
        assert rgb.dtype == np.uint8
        tr = self._tr
        resize = tr.MultiRestrictSize(None, self.max_edge, False, [1], self.cfg.MODEL_ALIGN_CORNERS)
        height, width = rgb.shape[:2]
        samples = resize({"current_img": rgb, "meta": {"height": height, "width": width}})
        samples = tr.MultiToTensor()(samples)
        return samples[0]["current_img"].unsqueeze(0).float()

    def _count_evictions(self) -> None:
        for sub in self.engine.aot_engines:
            if id(sub) in self._wrapped or not hasattr(sub, "drop_memories"):
                continue
            original = sub.drop_memories

            def counting(obj_idx, current, _sub=sub, _original=original):
                before = len(_sub.object_memories[obj_idx])
                _original(obj_idx, current)
                self.evictions += len(_sub.object_memories[obj_idx]) < before

            sub.drop_memories = counting
            self._wrapped.add(id(sub))

    def start(self, rgb: np.ndarray, labels: np.ndarray) -> None:
        self._img = self._prepare(rgb)
        self.objects = int(labels.max())
        label = torch.from_numpy(labels)[None, None].float()
        label = F.interpolate(label, size=self._img.shape[2:], mode="nearest")
        with torch.no_grad():
            self.engine.add_reference_frame(self._img, label, frame_step=0, obj_nums=[self.objects])
        self._count_evictions()
        self.frame = 0

    def propagate(self, rgb: np.ndarray) -> torch.Tensor:
        """Full-size logits of the active identities, (1, objects+1, H, W)."""
        self._img = self._prepare(rgb)
        self.frame += 1
        with torch.no_grad():
            self.engine.match_propogate_one_frame(self._img)
            logits = self.engine.decode_current_logits(rgb.shape[:2])
        return logits[:, :self.objects + 1]

    def add_objects(self, merged_labels: np.ndarray) -> None:
        """merged_labels: prediction with the new objects pasted over it, full size."""
        total = int(merged_labels.max())
        engine = self.engine
        label = F.interpolate(torch.from_numpy(merged_labels)[None, None].float(),
                              size=engine.input_size_2d, mode="nearest")
        first = engine.aot_engines[0]
        embeddings = first.curr_enc_embs
        while len(engine.aot_engines) < math.ceil(total / engine.max_aot_obj_num):
            sub = type(first)(engine.AOT, engine.gpu_id, engine.long_term_mem_gap,
                              engine.short_term_mem_skip, max_len_long_term=engine.max_len_long_term)
            sub.eval()
            engine.aot_engines.append(sub)
        engine.obj_nums = total
        masks, counts = engine.separate_mask(label, total)
        with torch.no_grad():
            for sub, mask, count in zip(engine.aot_engines, masks, counts):
                if sub.obj_nums is None or sub.obj_nums[0] < count:
                    sub.add_reference_frame(self._img, mask, obj_nums=[count], frame_step=self.frame,
                                            img_embs=embeddings)
        self.objects = total
        self._count_evictions()

    def update_memory(self, labels: np.ndarray) -> None:
        label = torch.from_numpy(labels)[None, None].float()
        label = F.interpolate(label, size=self.engine.input_size_2d, mode="nearest")
        with torch.no_grad():
            self.engine.update_memory(label)
