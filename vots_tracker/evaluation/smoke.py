"""``vots-tracker smoke``: the whole toolkit cycle offline, on synthetic sequences and random-init weights.

``workspace init --synthetic``, then per smoke tracker ``vot test``, ``vot evaluate`` and the
completeness check, then ``vot analysis`` (prints Q), ``vot report`` and ``vot pack``. Results are
printed as plain ``key: value`` lines on stdout; the exit code is 1 if any step failed or any
sequence/object lacks results (the toolkit itself exits 0 in those cases).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

from ..errors import UserError
from ..workspace import folder as wsmod
from ..workspace.synthetic_sequences import check_synthetic_args
from ..workspace.trackers_ini import SMOKE_TRACKERS as SMOKE_ENTRIES
from . import outputs, toolkit
from .evaluate import pack

logger = logging.getLogger(__name__)

SMOKE_TRACKERS = tuple(SMOKE_ENTRIES)
DEFAULT_SMOKE_WORKSPACE = "smoke-workspace"


def _out(line: str) -> None:
    print(line, flush=True)


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
            raise toolkit.ToolkitError(f"`{run.command}` did not conclude: {toolkit.log_summary(run.log)}; log: {run.log}")
        _out(f"test {tracker}: ok ({run.seconds:.0f} s)")

    def _evaluate(self, tracker: str) -> None:
        run = self.vot(["evaluate", "--workspace", str(self.ws), tracker], f"evaluate-{tracker}")
        problems = outputs.check_results(self.ws, tracker)
        if problems:
            raise toolkit.ToolkitError(
                f"{len(problems)} missing/bad result(s) ({toolkit.log_summary(run.log)}; log: {run.log}):\n"
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
        path = outputs.analysis_json(self.ws, name)
        _out(f"analysis: {path}")
        for tracker in evaluated:
            _out(f"Q {tracker}: {outputs.read_quality(path, tracker):.4f}")

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
