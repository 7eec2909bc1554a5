"""End-to-end jobs: ``vots-tracker smoke`` (offline toolkit cycle) and ``vots-tracker evaluate`` (the real run).

Both print their results as plain ``key: value`` lines on stdout (logs go to stderr and
to ``<workspace>/logs/vots-tracker/``) and exit non-zero if any step failed or any
sequence/object lacks results: the toolkit itself exits 0 in those cases.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from . import toolkit
from . import workspace as wsmod
from .data_files import ROOT_TRACKERS_INI
from .distributed import DEFAULT_RETRIES
from .synthetic_sequences import check_synthetic_args
from .trackers_ini import SMOKE_TRACKERS as SMOKE_ENTRIES, read_root_trackers
from .errors import UserError

logger = logging.getLogger(__name__)

SMOKE_TRACKERS = tuple(SMOKE_ENTRIES)
DEFAULT_SMOKE_WORKSPACE = "smoke-workspace"
DEFAULT_WORKSPACE = "workspace"
DEFAULT_TRACKER = "hqsam_gate"


def _out(line: str) -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------------------
# smoke
# --------------------------------------------------------------------------------------


def run_smoke(
    workspace: os.PathLike = DEFAULT_SMOKE_WORKSPACE,
    sequences: int = 2,
    frames: int = 12,
    size: Tuple[int, int] = (320, 240),
    objects: int = 3,
    trackers: Sequence[str] = SMOKE_TRACKERS,
    keep: bool = False,
    skip_test: bool = False,
    echo: bool = False,
) -> int:
    """The whole toolkit cycle offline; returns the exit code (0 only if everything checked out)."""
    if sequences < 1:  # the smoke job's name for --synthetic
        raise UserError(f"--sequences must be >= 1, got {sequences}")
    check_synthetic_args(sequences, frames, size, objects)  # before the workspace is touched
    ws = Path(workspace).expanduser().resolve()
    started = time.monotonic()
    _prepare_smoke_workspace(ws, keep, sequences, frames, size, objects)
    _out(f"workspace: {ws}")
    toolkit.set_numba_cache(ws)
    steps = SmokeSteps(ws, echo)
    evaluated = [tracker for tracker in trackers if steps.test_and_evaluate(tracker, skip_test)]
    if evaluated:
        steps.analyse(evaluated)
    elapsed = time.monotonic() - started
    if steps.failures:
        for failure in steps.failures:
            logger.error("%s", failure)
        _out(f"smoke: FAILED ({len(steps.failures)} step(s), {elapsed:.0f} s); logs under {ws / toolkit.LOG_DIR}")
        return 1
    _out(f"smoke: OK ({elapsed:.0f} s)")
    return 0


def _prepare_smoke_workspace(ws: Path, keep: bool, sequences: int, frames: int, size: Tuple[int, int],
                             objects: int) -> None:
    if keep and (ws / "config.yaml").is_file():
        logger.info("--keep: reusing %s (existing results are kept; vot evaluate skips them)", ws)
        if not wsmod.sequences_present(ws):
            raise UserError(f"{ws} has no sequences/list.txt; run without --keep to recreate it")
        return
    _refuse_foreign_workspace(ws)
    wsmod.init_workspace(ws, synthetic=sequences, frames=frames, size=size, objects=objects, force=True)


class SmokeSteps:
    """The smoke job's toolkit steps; a failed step is recorded and printed as FAILED, the others go on."""

    def __init__(self, ws: Path, echo: bool):
        self.ws = ws
        self.echo = echo
        self.failures: List[str] = []

    def attempt(self, label: str, failed_line: str, step: Callable[[], None]) -> bool:
        """Run one step; on a UserError record ``label: reason`` and print ``failed_line``."""
        try:
            step()
            return True
        except UserError as exc:
            self.failures.append(f"{label}: {exc}")
            _out(failed_line)
            return False

    def vot(self, args: List[str], log_name: str) -> "toolkit.VotRun":
        return toolkit.run_vot(args, self.ws, log_name, offline=True, echo=self.echo)

    def test_and_evaluate(self, tracker: str, skip_test: bool) -> bool:
        """``vot test`` (unless skipped) then ``vot evaluate`` and the completeness check; True if both passed."""
        if not skip_test and not self.attempt(f"vot test {tracker}", f"test {tracker}: FAILED",
                                              lambda: self._test(tracker)):
            return False
        return self.attempt(f"vot evaluate {tracker}", f"evaluate {tracker}: FAILED", lambda: self._evaluate(tracker))

    def _test(self, tracker: str) -> None:
        first_sequence = self.ws / "sequences" / _first_sequence(self.ws)
        run = self.vot(["--registry", str(self.ws), "test", tracker, "--sequence", str(first_sequence)],
                       f"test-{tracker}")
        if "Test concluded successfuly" not in run.log.read_text(encoding="utf-8", errors="replace"):
            raise toolkit.ToolkitError(f"`{run.command}` did not conclude: {_summary(run.log)}; log: {run.log}")
        _out(f"test {tracker}: ok ({run.seconds:.0f} s)")

    def _evaluate(self, tracker: str) -> None:
        run = self.vot(["evaluate", "--workspace", str(self.ws), tracker], f"evaluate-{tracker}")
        problems = toolkit.check_results(self.ws, tracker)
        if problems:
            raise toolkit.ToolkitError(
                f"{len(problems)} missing/bad result(s) ({_summary(run.log)}; log: {run.log}):\n"
                + "\n".join(f"    {p}" for p in problems)
            )
        _out(f"evaluate {tracker}: ok, results complete ({run.seconds:.0f} s)")

    def analyse(self, evaluated: List[str]) -> None:
        """``vot analysis`` (prints Q), ``vot report`` and ``vot pack`` for the evaluated trackers."""
        name = "smoke-" + datetime.now().strftime("%Y%m%d-%H%M%S")
        toolkit.clear_cache(self.ws)  # results may have been re-run under the same names
        self.attempt("vot analysis", "analysis: FAILED", lambda: self._analysis(name, evaluated))
        self.attempt("vot report", "report: FAILED", lambda: self._report(name, evaluated))
        for tracker in evaluated:
            self.attempt(f"vot pack {tracker}", f"pack {tracker}: FAILED",
                         lambda tracker=tracker: _out(f"pack {tracker}: {pack(self.ws, tracker, offline=True, echo=self.echo)}"))

    def _analysis(self, name: str, evaluated: List[str]) -> None:
        self.vot(["analysis", "--workspace", str(self.ws), "--format", "json", "--name", name, *evaluated],
                 "analysis")
        path = toolkit.analysis_json(self.ws, name)
        _out(f"analysis: {path}")
        for tracker in evaluated:
            _out(f"Q {tracker}: {toolkit.read_quality(path, tracker):.4f}")

    def _report(self, name: str, evaluated: List[str]) -> None:
        self.vot(["report", "--workspace", str(self.ws), "--format", "html", "--name", name, *evaluated], "report")
        report = self.ws / "reports" / name / "report.html"
        if not report.is_file():
            raise toolkit.ToolkitError(f"vot report wrote no {report}")
        _out(f"report: {report}")


def _refuse_foreign_workspace(ws: Path) -> None:
    """The smoke job recreates its workspace (deleting sequences/ and results/): never a real one."""
    config = ws / "config.yaml"
    if not config.is_file():
        return
    import yaml

    with open(config, "r", encoding="utf-8") as handle:
        stack = (yaml.safe_load(handle) or {}).get("stack")
    if stack != wsmod.OFFLINE_STACK:
        raise UserError(
            f"{ws} is a workspace for stack {stack!r}, not a smoke workspace; the smoke job would delete its "
            "sequences and results: choose another --workspace"
        )


def _first_sequence(ws: Path) -> str:
    names = [n.strip() for n in (ws / "sequences" / "list.txt").read_text(encoding="utf-8").splitlines() if n.strip()]
    if not names:
        raise UserError(f"{ws}/sequences/list.txt lists no sequences")
    return names[0]


def _summary(log: Path, limit: int = 3) -> str:
    errors = toolkit.toolkit_errors(log)
    if not errors:
        return "no error in the toolkit log"
    return " | ".join(errors[-limit:])


def pack(ws: Path, tracker: str, offline: bool = False, echo: bool = False) -> Path:
    """``vot pack`` and return the archive it wrote (ToolkitError if none)."""
    since = time.time()
    run = toolkit.run_vot(["pack", "--workspace", str(ws), tracker], ws, f"pack-{tracker}", offline=offline, echo=echo)
    archive = toolkit.newest_pack(ws, tracker, since)
    if archive is None:
        raise toolkit.ToolkitError(f"vot pack wrote no {tracker}_*.zip into {ws} ({_summary(run.log)}); log: {run.log}")
    return archive


# --------------------------------------------------------------------------------------
# evaluate (the main job)
# --------------------------------------------------------------------------------------


def tracker_config(tracker: str, root_trackers: Path = ROOT_TRACKERS_INI):
    """The TrackerConfig a trackers.ini entry runs (its preset plus the flags on its command)."""
    entries = {e.name: e for e in read_root_trackers(root_trackers)}
    if tracker not in entries:
        raise UserError(f"unknown tracker {tracker!r}; trackers.ini defines: {', '.join(entries)}")
    return serve_config(tracker, entries[tracker].args)


def serve_config(tracker: str, args: Sequence[str]):
    """The TrackerConfig of a trackers.ini entry's ``vots_tracker`` arguments (``serve`` and its flags)."""
    from .config import add_tracker_arguments, config_from_args

    args = list(args)
    if not args or args[0] != "serve":
        raise UserError(f"trackers.ini [{tracker}] does not run `vots_tracker serve` (args: {args})")
    parser = argparse.ArgumentParser(prog=f"trackers.ini [{tracker}]", add_help=False)
    add_tracker_arguments(parser)
    try:
        namespace = parser.parse_args(args[1:])
    except SystemExit:  # argparse already printed what is wrong
        raise UserError(f"trackers.ini [{tracker}]: invalid serve arguments {' '.join(args[1:])}") from None
    return config_from_args(namespace)


def run_evaluate(
    workspace: os.PathLike = DEFAULT_WORKSPACE,
    trackers: Sequence[str] = (DEFAULT_TRACKER,),
    weights_dir: Optional[os.PathLike] = None,
    force: bool = False,
    echo: bool = True,
    workers: Optional[int] = None,
    ray_address: Optional[str] = None,
    gpus_per_task: Optional[float] = None,
    cpus_per_task: Optional[float] = None,
    retries: Optional[int] = None,
) -> int:
    """Checkpoints, workspace, every sequence as a Ray task (:mod:`.evaluate_tasks`), completeness, analysis, pack.

    Trackers of the repository's trackers.ini get their official checkpoints downloaded and
    verified and the workspace refreshed for them (today's challenge run). Trackers that only
    the workspace's trackers.ini defines (e.g. the smoke entries of a synthetic workspace)
    use the workspace as it is. Returns 1 if any sequence failed or any result is missing.
    """
    from . import evaluate_job, evaluate_tasks

    ws = Path(workspace).expanduser().resolve()
    trackers = list(dict.fromkeys([trackers] if isinstance(trackers, str) else trackers))
    checkpoints = evaluate_job.prepare_evaluation(ws, trackers, weights_dir)
    _out(f"workspace: {ws}")
    wsmod.download_sequences(ws)
    toolkit.set_numba_cache(ws)

    summary, complete = evaluate_tasks.evaluate(
        ws, trackers, force=force, address=ray_address, workers=workers, cpus_per_task=cpus_per_task,
        gpus_per_task=gpus_per_task, retries=DEFAULT_RETRIES if retries is None else retries,
        required_paths=checkpoints,
    )
    _out(f"sequences: {complete} already complete, {len(summary.outcomes)} run")
    for line in summary.lines():
        _out(line)
    finished = []
    for tracker in trackers:
        problems = toolkit.check_results(ws, tracker)
        for problem in problems[:50]:
            _out(f"missing: {problem}")
        if len(problems) > 50:
            _out(f"missing: ... and {len(problems) - 50} more")
        if problems:
            _out(f"evaluate {tracker}: INCOMPLETE ({len(problems)} problem(s)); rerun to compute only what is missing")
        else:
            _out(f"evaluate {tracker}: ok, results complete")
            finished.append(tracker)
    failures = evaluate_job.analyse_and_pack(ws, finished, echo) + len(trackers) - len(finished)
    if failures or summary.failed:
        _out(f"evaluate: FAILED; tracker logs under {ws / 'logs'}, task logs under {ws / evaluate_tasks.TASK_LOG_DIR}")
        return 1
    return 0


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def register(subparsers) -> None:
    smoke = subparsers.add_parser(
        "smoke",
        help="offline toolkit cycle on synthetic sequences and random-init weights",
        description=(
            "Fully offline: workspace init --synthetic, then for dmaot_smoke, hqsam_gate_smoke and hqsam_gate_smoke_cycle_redetect "
            "vot test, vot evaluate and a results-completeness check, then vot analysis (prints Q), "
            "vot report --format html and vot pack (prints the archive). Exits 1 if any step failed "
            "or any sequence/object lacks results."
        ),
    )
    smoke.add_argument("--workspace", default=DEFAULT_SMOKE_WORKSPACE, metavar="DIR",
                       help=f"workspace folder, recreated from scratch [{DEFAULT_SMOKE_WORKSPACE}]")
    smoke.add_argument("--sequences", type=int, default=2, metavar="N", help="synthetic sequences [2]")
    smoke.add_argument("--frames", type=int, default=12, metavar="F", help="frames per sequence [12]")
    smoke.add_argument("--size", default="320x240", metavar="WxH", help="frame size [320x240]")
    smoke.add_argument("--objects", type=int, default=3, metavar="K", help="objects per sequence [3]")
    smoke.add_argument("--tracker", action="append", dest="trackers", choices=SMOKE_TRACKERS,
                       help="run only this smoke tracker (repeatable) [all]")
    smoke.add_argument("--keep", action="store_true",
                       help="reuse an existing smoke workspace and its results instead of recreating it")
    smoke.add_argument("--skip-test", action="store_true", help="skip `vot test`")
    smoke.add_argument("--verbose", action="store_true", help="copy the toolkit's output to stderr")
    smoke.set_defaults(func=_cmd_smoke)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="the main job: official weights, VOTS2024 workspace, every sequence as a Ray task, completeness "
        "check, vot analysis, vot pack",
        description=(
            "Download and verify the official checkpoints of the trackers' presets, initialise a VOTS2024 "
            "workspace from workspace_template/ (sequences are downloaded by the toolkit: online only), run "
            "every (tracker, experiment, sequence) as one Ray task through the toolkit's own runner (local Ray "
            "by default, or an existing cluster), check that every sequence and object has results, then "
            "vot analysis (prints Q where the stack defines it) and vot pack. Complete sequences are skipped "
            "(--force re-runs them); failed ones are retried, then named with their tracker log; the exit code "
            "is non-zero if any failed. Offline, it stops at the first missing checkpoint download with a "
            "message naming the file, its URL and where to put it."
        ),
    )
    evaluate.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR",
                          help=f"workspace folder [{DEFAULT_WORKSPACE}]")
    evaluate.add_argument("--tracker", dest="trackers", nargs="+", action="extend", metavar="NAME",
                          help=f"trackers.ini entries (several allowed) [{DEFAULT_TRACKER}]")
    evaluate.add_argument("--weights-dir", default=None, metavar="DIR",
                          help="checkpoint folder [$VOTS_TRACKER_WEIGHTS or the user cache dir]")
    where = evaluate.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local Ray: sequences run at once [one per visible GPU; 1 without GPUs]")
    where.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="join an existing Ray cluster: auto or HOST:PORT (e.g. started by examples/slurm/)")
    evaluate.add_argument("--gpus-per-task", type=float, default=None, metavar="F",
                          help="GPUs per sequence, fractions share a GPU [1 where GPUs exist, else 0]")
    evaluate.add_argument("--cpus-per-task", type=float, default=None, metavar="C",
                          help="CPUs per sequence; also the tracker's torch threads (OMP_NUM_THREADS) "
                          "[the CPUs shared evenly between the sequences that run at once]")
    evaluate.add_argument("--retries", type=int, default=None, metavar="R",
                          help=f"re-runs of a sequence whose tracker or worker failed [{DEFAULT_RETRIES}]")
    evaluate.add_argument("--force", action="store_true", help="re-run sequences that already have results")
    evaluate.add_argument("--quiet", action="store_true", help="do not copy the toolkit's output to stderr")
    evaluate.set_defaults(func=_cmd_evaluate)


def _cmd_smoke(args) -> int:
    return run_smoke(
        args.workspace,
        sequences=args.sequences,
        frames=args.frames,
        size=wsmod._parse_size(args.size),
        objects=args.objects,
        trackers=args.trackers or SMOKE_TRACKERS,
        keep=args.keep,
        skip_test=args.skip_test,
        echo=args.verbose,
    )


def _cmd_evaluate(args) -> int:
    return run_evaluate(
        args.workspace, args.trackers or [DEFAULT_TRACKER], args.weights_dir, force=args.force, echo=not args.quiet,
        workers=args.workers, ray_address=args.ray_address, gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task, retries=args.retries,
    )
