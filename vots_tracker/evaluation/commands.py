"""The ``smoke`` and ``evaluate`` subcommands: arguments to :mod:`.smoke` and :mod:`.evaluate`."""

from __future__ import annotations

from ..workspace import folder as wsmod
from .distributed import DEFAULT_RETRIES
from .memory_pressure import DEFAULT_OOM_BACKOFF, DEFAULT_OOM_BACKOFF_MAX, DEFAULT_OOM_RETRIES, MemoryPolicy
from .evaluate import DEFAULT_TRACKER, DEFAULT_WORKSPACE, run_evaluate
from .smoke import DEFAULT_SMOKE_WORKSPACE, SMOKE_TRACKERS, run_smoke


def register(subparsers) -> None:
    _add_smoke(subparsers)
    _add_evaluate(subparsers)


def _add_smoke(subparsers) -> None:
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


def _add_evaluate(subparsers) -> None:
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
    add_memory_arguments(evaluate)
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
        cpus_per_task=args.cpus_per_task, retries=args.retries, memory=memory_policy(args),
    )


def add_memory_arguments(parser) -> None:
    """``--oom-backoff`` and ``--oom-retries``: tasks killed by Ray's memory monitor (evaluate and sweep)."""
    parser.add_argument("--oom-backoff", type=float, default=DEFAULT_OOM_BACKOFF, metavar="S",
                        help="after Ray's memory monitor killed a task: seconds before it runs again (doubling "
                        f"per kill, at most {DEFAULT_OOM_BACKOFF_MAX:.0f} s), with half as many tasks at once "
                        f"[{DEFAULT_OOM_BACKOFF:.0f}]")
    parser.add_argument("--oom-retries", type=int, default=DEFAULT_OOM_RETRIES, metavar="N",
                        help=f"memory kills a sequence may meet before it counts as failed [{DEFAULT_OOM_RETRIES}]")


def memory_policy(args) -> MemoryPolicy:
    return MemoryPolicy(backoff=args.oom_backoff, max_backoff=max(args.oom_backoff, DEFAULT_OOM_BACKOFF_MAX),
                        retries=args.oom_retries)
