"""The memory a sequence task declares to Ray, from the tracker's preset (models), where measured.

Ray reserves a task's declared ``memory`` on the node that runs it and starts no more tasks
there than their declarations fit (Ray's ``memory`` resource: by default about 70 % of the
memory the node had free when Ray started). Declaring what a tracker needs keeps a node
from running more trackers than it can hold, before the memory monitor has to kill one.

The figures are the peak RSS of one tracker process (``vots_tracker serve``, started by
``vot evaluate`` on CPU with random-init weights: same tensors as the official ones), for
one 854x480 sequence of 6 frames with 3 objects, measured with
``benchmarks/tracker_memory.py`` on 2026-12-04 (see BENCHMARKS.md). A task declares that
figure times :data:`MARGIN` (larger frames, more objects, the toolkit's own process).
Trackers whose models are not in the table (or which do not run ``vots_tracker serve``)
declare nothing: Ray then places them by CPUs and GPUs only, as before.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Tuple

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
#: Declared = measured peak RSS x MARGIN.
MARGIN = 1.25
#: Peak RSS in MiB of one tracker process by (DMAOT model, SAM model); CPU, random-init, 854x480, 3 objects.
PEAK_RSS_MIB: Dict[Tuple[str, str], int] = {
    ("deaott", "none"): 813,  # dmaot_smoke
    ("deaott", "vit_tiny"): 1524,  # hqsam_gate_smoke
    ("swinb_dm_deaotl", "none"): 1587,  # dmaot
    ("swinb_dm_deaotl", "vit_tiny"): 2079,  # hqsam_gate_light
    ("r50_dm_deaotl", "vit_tiny"): 1844,  # hqsam_gate_rt
    ("swinb_dm_deaotl", "sam_vit_b"): 4743,  # sam_b
    # 3 frames instead of 6 (vit_h/vit_l take about a minute per frame on this CPU); the peak comes with
    # the models and the first refined frame, not with the frame count.
    ("swinb_dm_deaotl", "vit_h"): 9641,  # hqsam_gate and its variants
    ("swinb_dm_deaotl", "vit_l"): 6957,  # hqsam_l_gate, hqsam_l_gate_cycle
    ("swinb_dm_deaotl", "sam_vit_l"): 6796,  # sam_l, sam_l_gate
    ("swinb_dm_deaotl", "sam2.1_hiera_l"): 3443,  # sam21_l_gate
    ("r50_dm_deaotl", "sam2.1_hiera_t"): 2178,  # sam21_t_rt
}


def preset_memory(model: str, sam: str) -> int:
    """Bytes to declare for a tracker running these models (0: not measured, declare nothing)."""
    peak = PEAK_RSS_MIB.get((model, sam))
    return int(peak * MARGIN * MIB) if peak else 0


def tracker_memory(workspace: os.PathLike, tracker: str) -> int:
    """Bytes to declare for a workspace trackers.ini entry (0 where unknown)."""
    from ..errors import UserError
    from .entries import serve_config, workspace_entries
    from ..workspace.trackers_ini import parse_command

    entry = workspace_entries(workspace).get(tracker) or {}
    args = parse_command(entry.get("command", "")) or []
    if args[:1] != ["serve"]:
        return 0
    try:
        config = serve_config(tracker, args)
    except UserError:  # the tracker itself reports a bad entry, with its log
        return 0
    memory = preset_memory(config.model, config.sam)
    if memory:
        logger.info("%s: %.1f GiB of memory declared to Ray per task (%s + %s)", tracker, memory / 1024 ** 3,
                    config.model, config.sam)
    return memory
