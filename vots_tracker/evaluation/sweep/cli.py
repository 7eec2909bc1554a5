"""``vots-tracker sweep``: every gate setting from one tracking pass per sequence, scored by the toolkit."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

from .. import outputs, toolkit
from ..distributed import DEFAULT_RETRIES
from ..entries import serve_config
from ..evaluate import DEFAULT_WORKSPACE
from ...weights.registry import ENV_WEIGHTS_DIR
from .settings import SweepError, read_base_entry, register_derived, settings_from

if TYPE_CHECKING:
    from .parallel import RayOptions
    from .report import SettingResult

logger = logging.getLogger(__name__)

# Options whose past depends on the gate: one pass cannot serve every tau.
_GATE_DEPENDENT = {
    "cycle": "the cycle prior (--cycle) feeds the gate's choices into DMAOT's memory",
    "redetect": "re-detection (--redetect) starts its Kalman filters from the gate's choices",
}


def _out(line: str) -> None:
    print(line, flush=True)


def refuse_gate_dependent(tracker: str, config) -> None:
    """One line for configurations the sweep cannot reproduce exactly."""
    if config.sam == "none":
        raise SweepError(f"tracker {tracker!r} does not refine (--sam none): it has no gate to sweep")
    if config.gate == "off":
        raise SweepError(f"tracker {tracker!r} uses --gate off, which ignores tau: there is nothing to sweep")
    for option, why in _GATE_DEPENDENT.items():
        if getattr(config, option):
            raise SweepError(f"tracker {tracker!r} cannot be swept: {why}, so every tau needs its own "
                             f"tracking pass; sweep an entry without --{option}")


def base_config(workspace: Path, tracker: str):
    """The swept entry as written in the workspace's trackers.ini, and the TrackerConfig it runs."""
    base = read_base_entry(workspace, tracker)
    config = serve_config(tracker, base.args)
    refuse_gate_dependent(tracker, config)
    weights = next((v for k, v in base.keys.items() if k.lower() == f"env_{ENV_WEIGHTS_DIR.lower()}"), None)
    if not config.refine:  # the entry's tau >= 1 switches HQ-SAM off; the pass needs it, whatever tau
        config.tau = 0.0
    if config.weights_dir is None and weights:
        config.weights_dir = os.path.expandvars(weights)  # what the entry's process gets from the toolkit
    return base, config


def run_sweep(workspace: os.PathLike, tracker: str, tau: str, proposals: Optional[str] = None,
              ray: Optional[RayOptions] = None, force: bool = False, retries: int = DEFAULT_RETRIES) -> int:
    """The whole sweep; ``ray`` None runs the sequences one after another in this process."""
    from ..staged import clear_staging
    from .runner import SequenceSweeper, run_tasks  # the toolkit and models: only when sweeping

    settings = settings_from(tau, proposals)  # a bad SPEC fails before anything is touched
    ws = Path(workspace).expanduser().resolve()
    if not (ws / "config.yaml").is_file():
        raise SweepError(f"{ws} is not a workspace (no config.yaml); run `vots-tracker workspace init`")
    base, config = base_config(ws, tracker)
    names = register_derived(ws / "trackers.ini", base, settings)
    _out(f"trackers.ini: {ws / 'trackers.ini'} ({len(names)} derived trackers of {tracker})")
    toolkit.set_numba_cache(ws)

    out_dir = ws / "sweeps" / tracker
    sweeper = SequenceSweeper(ws, tracker, settings, config, out_dir)
    tasks = sweeper.tasks()
    clear_staging(ws, [tracker])  # what a killed sweep staged: never published, never reused
    if ray is None:
        counts = run_tasks(sweeper, tasks, force=force, retries=retries)
    else:
        from .parallel import run_on_ray

        counts = run_on_ray(sweeper, tasks, force, replace(ray, retries=retries))
    clear_staging(ws, [tracker])
    _report_faults(counts)

    problems = [problem for name in names for problem in outputs.check_results(ws, name)]
    problems += [f"{task[0]}/{task[1]}: the sweep failed (see the log)" for task in tasks if task not in counts]
    if problems:
        for problem in problems[:50]:
            _out(f"missing: {problem}")
        raise toolkit.ToolkitError(f"{len(problems)} result(s) of the derived trackers are missing or bad "
                                   "(errors above); rerun the sweep to fill the gaps")
    _out(f"results: complete for all {len(names)} derived trackers")
    _report(ws, tracker, settings, names, config, counts, out_dir)
    return 0


def _report(ws: Path, tracker: str, settings, names, config, counts, out_dir: Path) -> None:
    """One ``vot analysis`` of every derived tracker; the table and the plot."""
    from .report import analyse, plot, table

    analysis = f"sweep-{tracker}-{datetime.now():%Y%m%d-%H%M%S}"
    quality, analysis_path = analyse(ws, names, analysis)
    rows = _collect(settings, names, config.proposals, quality, counts)
    text = table(rows)
    _out(text)
    table_path = out_dir / f"{analysis}.txt"
    table_path.write_text(text + "\n", encoding="utf-8")
    plot_path = plot(rows, out_dir / f"{analysis}.png", f"{tracker}: Q against tau ({ws.name})")
    best = max(rows, key=lambda r: r.quality)
    _out(f"best: {best.tracker} ({best.setting.describe()}, Q {best.quality:.4f})")
    _out(f"analysis: {analysis_path}")
    _out(f"table: {table_path}")
    _out(f"plot: {plot_path}")


def _report_faults(counts) -> None:
    """One line per sequence on which HQ-SAM failed (DMAOT's masks were kept there for every setting)."""
    for task, task_counts in counts.items():
        if task_counts.failed_frames:
            frames = ", ".join(str(f) for f in task_counts.failed_frames)
            _out(f"refinement failed: {task[0]}/{task[1]} on {len(task_counts.failed_frames)} frame(s) ({frames}); "
                 "DMAOT's masks kept there for every setting")


def _collect(settings, names, base_proposals: str, quality: Dict[str, float], counts) -> List["SettingResult"]:
    from .report import SettingResult

    results = []
    for setting, name in zip(settings, names):
        decisions = sum(task_counts.gate[name][0] for task_counts in counts.values())
        accepted = sum(task_counts.gate[name][1] for task_counts in counts.values())
        results.append(SettingResult(setting, name, setting.proposals or base_proposals, quality[name],
                                     decisions, accepted))
    return results


def register(subparsers) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="score every gate setting (tau, proposal set) from one tracking pass per sequence",
        description=(
            "Track every sequence of the workspace once with a refining trackers.ini entry and write, through "
            "the VOT toolkit's own results storage, the exact results of every tau (and proposal set) as derived "
            "trackers registered in the workspace's trackers.ini (`vot evaluate <derived>` reproduces them). "
            "Then: completeness check, one `vot analysis`, a table (setting, Q, acceptance rate) and a PNG plot "
            "of Q against tau."
        ),
    )
    sweep.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR",
                       help=f"toolkit workspace [{DEFAULT_WORKSPACE}]")
    sweep.add_argument("--tracker", required=True, metavar="NAME", help="the workspace trackers.ini entry to sweep")
    sweep.add_argument("--tau", required=True, metavar="SPEC",
                       help="tau values: a list (0.5,0.59,0.65) or a range START:STOP:STEP, both ends included")
    sweep.add_argument("--proposals", metavar="LIST",
                       help="proposal sets to sweep too, comma-separated (all, hq, single, 1..4) [the entry's]")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run N sequences at once on a local Ray instance [one after another, in this process]")
    where.add_argument("--ray-address", metavar="ADDR", help="run the sequences on this Ray cluster: auto or HOST:PORT")
    sweep.add_argument("--gpus-per-task", type=float, metavar="F", help="with Ray: GPUs per sequence (as for evaluate)")
    sweep.add_argument("--cpus-per-task", type=float, metavar="C", help="with Ray: CPUs per sequence (as for evaluate)")
    add_memory_arguments(sweep)  # with Ray: tasks killed by Ray's memory monitor (as for evaluate)
    sweep.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="R",
                       help=f"re-runs of a sequence whose sweep failed (as for evaluate) [{DEFAULT_RETRIES}]")
    sweep.add_argument("--force", action="store_true", help="recompute sequences that already have all results")
    for option in _GATE_DEPENDENT:  # accepted only to be refused with the reason
        sweep.add_argument(f"--{option}", action="store_true", help="refused: " + _GATE_DEPENDENT[option])
    sweep.set_defaults(func=_cmd_sweep)


def add_memory_arguments(parser) -> None:
    from ..commands import add_memory_arguments as add

    add(parser)


def memory_policy(args):
    from ..commands import memory_policy as policy

    return policy(args)


def _cmd_sweep(args) -> int:
    for option, why in _GATE_DEPENDENT.items():
        if getattr(args, option):
            raise SweepError(f"--{option} cannot be swept: {why}, so every tau needs its own tracking pass")
    ray = None
    if args.workers is not None or args.ray_address:
        from .parallel import RayOptions

        ray = RayOptions(args.workers, args.ray_address, args.gpus_per_task, args.cpus_per_task,
                         memory=memory_policy(args))
    elif args.gpus_per_task is not None or args.cpus_per_task is not None:
        raise SweepError("--gpus-per-task and --cpus-per-task apply to Ray runs: add --workers N or --ray-address")
    if args.retries < 0:
        raise SweepError(f"--retries must be >= 0, got {args.retries}")
    return run_sweep(args.workspace, args.tracker, args.tau, args.proposals, ray, args.force, args.retries)
