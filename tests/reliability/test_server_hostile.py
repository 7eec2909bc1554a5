"""Hostile clients and bad input against the real TraX server and CLI commands (issue 12).

One table, one row per case. Each case drives ``vots-tracker serve`` through vot-trax's
client (or raw bytes, or a subprocess CLI command) under a hard timeout, then checks:
the exit status; the one-line message, by content (the TraX quit reason, or the line
on stderr); that stdout carried nothing but TraX protocol lines; and that every input
file (frames, checkpoints, bad files) is unchanged, by sha256 before and after.
Models: DeAOT-T (and HQ-SAM vit_tiny for refinement faults), random-init, 64x48 frames.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import pytest
import trax

from trax_harness import (
    CASE_TIMEOUT, H, W, ServerProcess as Server, image, kill_quietly, regions, reply_masks, server_env, tree_hashes,
    wait_gone, write_clip,
)

HERE = Path(__file__).resolve().parent
FAULTY_SERVER = [sys.executable, str(HERE / "faulty_refiner_server.py"), "serve"]
PROMPT_EXIT = 10.0  # seconds within which a server must be gone after a disconnect or signal
CROWD = 60  # objects in the crowded clip
QUIT_EXIT = 30.0  # ... and after it sent its quit reason (interpreter teardown is slow on a loaded machine)


@dataclass
class Outcome:
    message: Optional[str] = None  # the TraX quit reason the client received, if any
    replies: List[int] = field(default_factory=list)  # objects per reply
    exit_code: Optional[int] = None  # set by scenarios whose server is not our child
    server: Optional[Server] = None


@dataclass
class Context:
    tmp: Path
    weights: Path
    frames: List[Path]
    masks: list
    inputs: List[Path]
    crowd: tuple  # (paths, masks) of a clip with CROWD objects

    def serve(self, *flags: str, preset: str = "dmaot_smoke", weights: Optional[Path] = None,
              command=None, env=None) -> Server:
        args = ["--preset", preset, "--weights-dir", str(weights or self.weights), *flags]
        return Server(args, self.tmp, command=command, env=env)


# --------------------------------------------------------------------------- scenarios


def drive(server: Server, steps: List[Tuple[Path, list]], quit_at_end: bool = True) -> Outcome:
    """INITIALIZE with the first step, FRAME for the others; a TraxException's text is the outcome's message."""
    outcome = Outcome(server=server)
    try:
        client = server.connect()
        first_path, first_objects = steps[0]
        reply, _ = client.initialize(image(first_path), regions(first_objects), {})
        outcome.replies.append(len(reply))
        for path, new in steps[1:]:
            reply, _ = client.frame(image(path), {}, regions(new))
            outcome.replies.append(len(reply))
            reply_masks(reply, cv2.imread(str(path)).shape[:2])  # every region fits the frame
    except trax.TraxException as error:
        outcome.message = str(error)
        return outcome
    if quit_at_end:
        server.close()
    return outcome


def sequence(ctx: Context, objects=2, bad: Optional[Path] = None, later: Dict[int, list] = None):
    """Steps over the clip; frame 2 replaced by ``bad``; ``later`` adds objects on given frames."""
    steps = []
    for t, path in enumerate(ctx.frames):
        new = ctx.masks[t][:objects] if t == 0 else (later or {}).get(t, [])
        steps.append((bad if (bad is not None and t == 2) else path, new))
    return steps


def config_error(*flags):
    def run(ctx):
        return drive(ctx.serve(*flags), sequence(ctx))
    return run


def bad_weights(kind: str):
    def run(ctx):
        if kind == "missing":
            empty = ctx.tmp / "no-weights"
            empty.mkdir()
            return drive(ctx.serve(weights=empty), sequence(ctx))
        if kind == "corrupt":
            broken = ctx.tmp / "inputs" / "garbage.pth"
            return drive(ctx.serve("--dmaot-checkpoint", str(broken)), sequence(ctx))
        if kind == "non_ascii":
            return drive(ctx.serve("--dmaot-checkpoint", str(ctx.tmp / "inputs" / "jos\u00e9" / "none.pth")), sequence(ctx))
        wrong = ctx.weights / "DeAOTT_PRE_YTB_DAV.pth"
        return drive(ctx.serve("--model", "deaots", "--dmaot-checkpoint", str(wrong)), sequence(ctx))
    return run


def bad_frame(name: str):
    def run(ctx):
        bad = ctx.tmp / "inputs" / name
        return drive(ctx.serve(), sequence(ctx, bad=bad))
    return run


def odd_mask(kind: str):
    def run(ctx):
        if kind == "foreground_outside":
            region = trax.Mask.create(np.ones((H + 10, W + 10), dtype=np.uint8), 0, 0)
        elif kind == "background_outside":
            data = np.zeros((H + 10, W + 10), dtype=np.uint8)
            data[5:15, 5:20] = 1
            region = trax.Mask.create(data, 0, 0)
        else:  # smaller than the frame, at an offset
            region = trax.Mask.create(np.ones((10, 12), dtype=np.uint8), 30, 20)
        server = ctx.serve()
        outcome = Outcome(server=server)
        try:
            client = server.connect()
            outcome.replies.append(len(client.initialize(image(ctx.frames[0]), [(region, {})], {})[0]))
            for path in ctx.frames[1:]:
                reply, _ = client.frame(image(path), {}, [])
                reply_masks(reply)
                outcome.replies.append(len(reply))
        except trax.TraxException as error:
            outcome.message = str(error)
            return outcome
        server.close()
        return outcome
    return run


def object_count(count: int):
    def run(ctx):
        paths = [ctx.tmp / "inputs" / "crowd" / p.name for p in ctx.crowd[0]]
        steps = [(paths[0], ctx.crowd[1][0][:count])] + [(p, []) for p in paths[1:]]
        return drive(ctx.serve(), steps)
    return run


def zero_objects(ctx):
    """libtrax's client refuses to send an INITIALIZE without objects (at times it gets through): either
    the server names the problem, or it never saw the request and must quit cleanly when asked."""
    server = ctx.serve()
    outcome = drive(server, [(ctx.frames[0], [])] + [(p, []) for p in ctx.frames[1:]])
    assert outcome.message is not None
    if "carries no objects" not in outcome.message:
        assert "Exception when initializing tracker" in outcome.message, outcome.message
        server.close()  # the polite quit: exit 0
    return outcome


def objects_added_later(ctx):
    return drive(ctx.serve(), sequence(ctx, objects=1, later={1: [ctx.masks[1][1]], 2: [ctx.masks[2][0]]}))


def empty_initial_mask(ctx):
    empty = np.zeros((H, W), dtype=bool)
    return drive(ctx.serve(), [(ctx.frames[0], [ctx.masks[0][0], empty])] + [(p, []) for p in ctx.frames[1:]])


def raw(data: bytes):
    """Handshake, write ``data`` (maybe half a message), close the input: the server must exit promptly."""
    def run(ctx):
        server = ctx.serve()
        assert server.read_hello().startswith(b"@@TRAX:hello")
        server.write_raw(data, close=True)
        return Outcome(server=server)
    return run


def disconnect_mid_sequence(ctx):
    server = ctx.serve()
    client = server.connect()
    client.initialize(image(ctx.frames[0]), regions(ctx.masks[0][:2]), {})
    client.frame(image(ctx.frames[1]), {}, [])
    server.disconnect()  # the client vanishes: its end of the pipe closes
    server.abandoned = True
    return Outcome(server=server, replies=[2, 2])


def parent_killed(ctx):
    """The server's parent dies while the input stays open (held by this process): the server must go."""
    launcher = ("import subprocess, sys; p = subprocess.Popen(sys.argv[1:]); "
                "print(p.pid, flush=True); p.wait()")
    args = ["--preset", "dmaot_smoke", "--weights-dir", str(ctx.weights)]
    stderr_path = ctx.tmp / "grandchild.stderr"
    with open(stderr_path, "wb") as stderr:
        parent = subprocess.Popen([sys.executable, "-c", launcher, sys.executable, "-m", "vots_tracker", "serve", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=server_env())
    pid = int(parent.stdout.readline())
    hello = parent.stdout.readline()  # the server's handshake, through the inherited pipe
    assert hello.startswith(b"@@TRAX:hello"), hello
    parent.kill()
    parent.wait()
    gone = wait_gone(pid, PROMPT_EXIT)
    if not gone:
        kill_quietly(pid)
    parent.stdin.close()
    rest = parent.stdout.read()
    assert all(line.startswith(b"@@TRAX:") for line in rest.splitlines() if line), rest
    return Outcome(exit_code=0 if gone else None, message=stderr_path.read_text(errors="replace"))


def signal_after_initialize(signum: int):
    def run(ctx):
        server = ctx.serve()
        client = server.connect()
        client.initialize(image(ctx.frames[0]), regions(ctx.masks[0][:2]), {})
        server.signal(signum)
        server.abandoned = True
        return Outcome(server=server, replies=[2])
    return run


def signal_during_load(ctx):
    server = ctx.serve()
    assert server.wait_catching(signal.SIGTERM)  # serve routes it before loading anything heavy
    server.signal(signal.SIGTERM)
    return Outcome(server=server)


def refine_faults(spec: str, *flags: str):
    def run(ctx):  # two threads: the embedding runs in its worker thread (the overlap), and fails there
        server = ctx.serve(*flags, "--threads", "2", preset="hqsam_gate_smoke", command=FAULTY_SERVER,
                           env={"VOTS_TEST_REFINE_FAULTS": spec})
        return drive(server, sequence(ctx))
    return run


def cli(*args: str, mask: bool = True):
    """``python -m vots_tracker ARGS`` in a subprocess; {frames}, {mask}, {out}, {weights}, {inputs} expand."""
    def run(ctx):
        mapping = dict(frames=ctx.tmp / "inputs" / "frames", mask=ctx.tmp / "inputs" / "first_mask.png",
                       out=ctx.tmp / "out", weights=ctx.weights, inputs=ctx.tmp / "inputs",
                       ws=ctx.tmp / "outputs" / "wórkspace")
        argv = [str(a).format(**mapping) for a in args]
        proc = subprocess.run([sys.executable, "-m", "vots_tracker", *argv], capture_output=True, text=True,
                              timeout=CASE_TIMEOUT, env=server_env(), cwd=ctx.tmp)
        assert proc.stdout.strip() == "" or "Traceback" not in proc.stdout
        assert "Traceback" not in proc.stderr, proc.stderr
        return Outcome(exit_code=proc.returncode, message=proc.stderr)
    return run


# --------------------------------------------------------------------------- the table


@dataclass
class Case:
    id: str
    run: Callable[[Context], Outcome]
    exit: Tuple[int, ...]
    expect: Tuple[str, ...] = ()  # fragments of the one-line message
    replies: Optional[List[int]] = None  # objects per reply, when the sequence completes
    stderr_only: bool = False  # the message is a stderr line (no quit reason can reach a client)
    handshake: bool = True  # the server got as far as the TraX handshake
    exit_within: float = QUIT_EXIT  # seconds from the end of the scenario to the server's exit (failures)


CASES = [
    # configuration errors: handshake, then quit with the reason (exit 2)
    Case("unknown_preset", config_error("--preset", "nope"), (2,), ("bad configuration", "unknown preset 'nope'")),
    Case("tau_out_of_range", config_error("--tau", "2"), (2,), ("tau must lie in [0, 1], got 2",)),
    Case("long_gap_zero", config_error("--long-gap", "0"), (2,), ("long_gap must be >= 1",)),
    Case("bad_sam_choice", config_error("--sam", "vit_x"), (2,), ("argument --sam: invalid choice: 'vit_x'",)),
    Case("non_numeric_flag", config_error("--tau", "abc"), (2,), ("argument --tau: invalid float value: 'abc'",)),
    Case("threads_negative", config_error("--threads", "-2"), (2,), ("threads must be >= 0", "-2")),
    Case("unknown_flag", config_error("--bogus"), (2,), ("unrecognized arguments: --bogus",)),
    Case("max_refine_failures_zero", config_error("--max-refine-failures", "0"), (2,),
         ("max_refine_failures must be >= 1",)),
    # checkpoints: the file is named, in one line
    Case("missing_checkpoint", bad_weights("missing"), (1,), ("could not start", "DeAOTT_PRE_YTB_DAV.pth")),
    Case("corrupt_checkpoint", bad_weights("corrupt"), (1,), ("cannot read DMAOT checkpoint", "garbage.pth")),
    Case("non_ascii_checkpoint_path", bad_weights("non_ascii"), (1,), ("could not start", "jos\\xe9/none.pth")),
    Case("wrong_model_checkpoint", bad_weights("wrong"), (1,), ("does not fit model deaots", "missing keys (")),
    # frames
    Case("missing_frame", bad_frame("nope/00000099.jpg"), (1,), ("frame file not found", "00000099.jpg")),
    Case("empty_frame", bad_frame("empty.jpg"), (1,), ("cannot decode frame image", "empty.jpg")),
    Case("undecodable_frame", bad_frame("garbage.jpg"), (1,), ("cannot decode frame image", "garbage.jpg")),
    Case("folder_as_frame", bad_frame("a_folder.jpg"), (1,), ("not a file", "a_folder.jpg")),
    Case("frame_size_change", bad_frame("bigger.jpg"), (1,), ("frame 3 is 80x60", "started with 64x48")),
    Case("non_ascii_frame_path", bad_frame("jos\u00e9/00000002.jpg"), (1,), ("TraX protocol error", "non-ASCII")),
    # masks and objects
    Case("mask_foreground_outside_frame", odd_mask("foreground_outside"), (1,), ("object 1", "outside the 64x48 frame")),
    Case("mask_larger_background_outside", odd_mask("background_outside"), (0,), replies=[1, 1, 1, 1]),
    Case("mask_smaller_than_frame", odd_mask("smaller"), (0,), replies=[1, 1, 1, 1]),
    Case("zero_objects", zero_objects, (0, 1)),
    Case("sixty_objects", object_count(CROWD), (0,), replies=[CROWD] * 3),
    Case("objects_added_later", objects_added_later, (0,), replies=[1, 2, 3, 3]),
    Case("empty_initial_mask", empty_initial_mask, (0,), replies=[2, 2, 2, 2]),
    # protocol, disconnects, signals: the server is gone within PROMPT_EXIT seconds
    Case("half_message_then_eof", raw(b'@@TRAX:initialize "mask:0,0,3,3,0,9" "file:///tmp/x'), (1,),
         ("exiting", "TraX input was closed"), stderr_only=True, exit_within=PROMPT_EXIT),
    Case("eof_after_handshake", raw(b""), (1,), ("TraX connection lost",), stderr_only=True,
         exit_within=PROMPT_EXIT),
    Case("garbage_then_eof", raw(b"this is not trax\n\x00\xff\n"), (1,), ("tracking failed",), stderr_only=True,
         exit_within=PROMPT_EXIT),
    Case("disconnect_mid_sequence", disconnect_mid_sequence, (1,), ("TraX connection lost",), stderr_only=True,
         exit_within=PROMPT_EXIT),
    Case("parent_killed", parent_killed, (0,), ("exiting", "parent process"), stderr_only=True),
    # stop signals: exit 128 + signal number, one stderr line (and a TraX quit once the handshake was done)
    Case("sigterm_while_waiting", signal_after_initialize(signal.SIGTERM), (143,),
         ("interrupted by SIGTERM after 0 frame(s)",), stderr_only=True, exit_within=PROMPT_EXIT),
    Case("sigint_while_waiting", signal_after_initialize(signal.SIGINT), (130,), ("interrupted",), stderr_only=True,
         exit_within=PROMPT_EXIT),
    Case("sighup_while_waiting", signal_after_initialize(signal.SIGHUP), (129,), ("interrupted by SIGHUP",),
         stderr_only=True, exit_within=PROMPT_EXIT),
    Case("sigterm_during_model_load", signal_during_load, (143,), ("interrupted", "SIGTERM"), stderr_only=True,
         handshake=False, exit_within=PROMPT_EXIT),
    # refinement faults cost a frame, not the sequence (test-only hook, real HQ-SAM otherwise)
    Case("refine_fault_on_two_frames", refine_faults("2,3"), (0,),
         ("refinement failed on 2 of 3 frame(s) (2, 3)",), replies=[2, 2, 2, 2], stderr_only=True),
    Case("refine_faults_turn_refinement_off", refine_faults("1,2", "--max-refine-failures", "2"), (0,),
         ("refinement failed on 2 consecutive frames; turned off",), replies=[2, 2, 2, 2], stderr_only=True),
    Case("refine_out_of_memory_retried", refine_faults("oom:1", "--decode-batch", "4"), (0,),
         ("out of memory in refinement; freed the cache, retrying with decode batch 2",), replies=[2, 2, 2, 2],
         stderr_only=True),
    # (the server finishes the frame's HQ-SAM embedding, running in its worker, before it exits)
    Case("dmaot_fault_ends_the_session", refine_faults("dmaot:2"), (1,), ("injected DMAOT fault on frame 2",),
         exit_within=CASE_TIMEOUT),
    # CLI commands: one line, non-zero exit, no traceback
    Case("track_corrupt_checkpoint",
         cli("track", "--frames", "{frames}", "--masks", "{mask}", "--out", "{out}", "--preset", "dmaot_smoke",
             "--weights-dir", "{weights}", "--dmaot-checkpoint", "{inputs}/garbage.pth"),
         (2,), ("vots-tracker: error: cannot read DMAOT checkpoint", "garbage.pth"), stderr_only=True),
    Case("track_wrong_model_checkpoint",
         cli("track", "--frames", "{frames}", "--masks", "{mask}", "--out", "{out}", "--preset", "dmaot_smoke",
             "--weights-dir", "{weights}", "--model", "deaots", "--dmaot-checkpoint", "{weights}/DeAOTT_PRE_YTB_DAV.pth"),
         (2,), ("vots-tracker: error:", "does not fit model deaots", "... and"), stderr_only=True),
    Case("track_threads_negative",
         cli("track", "--frames", "{frames}", "--masks", "{mask}", "--out", "{out}", "--preset", "dmaot_smoke",
             "--weights-dir", "{weights}", "--threads", "-2"),
         (2,), ("vots-tracker: error:", "threads must be >= 0"), stderr_only=True),
    Case("workspace_init_non_ascii", cli("workspace", "init", "{ws}"), (0,), ("non-ASCII characters",),
         stderr_only=True),
]


# --------------------------------------------------------------------------- fixtures and the test


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, smoke_weights):
    """Frames, bad files and a first-frame mask, written once; every case checks they stay unchanged."""
    folder = tmp_path_factory.mktemp("hostile-inputs")
    frames, masks = write_clip(folder / "frames")
    crowd = write_clip(folder / "crowd", frames=3, objects=CROWD)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"this is not a jpeg at all")
    (folder / "garbage.pth").write_bytes(b"not a torch file")
    (folder / "a_folder.jpg").mkdir()
    bigger = cv2.resize(cv2.imread(str(frames[2])), (80, 60))
    cv2.imwrite(str(folder / "bigger.jpg"), bigger)
    (folder / "jos\u00e9").mkdir()
    cv2.imwrite(str(folder / "jos\u00e9" / "00000002.jpg"), cv2.imread(str(frames[2])))
    labels = np.zeros((H, W), dtype=np.uint8)
    for k, mask in enumerate(masks[0][:2]):
        labels[mask] = k + 1
    cv2.imwrite(str(folder / "first_mask.png"), labels)
    return folder, frames, masks, crowd


def link_inputs(tmp: Path, folder: Path) -> Path:
    (tmp / "inputs").symlink_to(folder, target_is_directory=True)
    (tmp / "outputs").mkdir()
    return tmp / "inputs"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_case(case: Case, tmp_path, inputs, smoke_weights):
    folder, frames, masks, crowd = inputs
    link_inputs(tmp_path, folder)
    ctx = Context(tmp_path, smoke_weights, [tmp_path / "inputs" / "frames" / p.name for p in frames], masks,
                  [folder, smoke_weights], crowd)
    before = tree_hashes(folder, smoke_weights)
    started = time.monotonic()
    outcome = case.run(ctx)
    server = outcome.server
    try:
        code = outcome.exit_code
        if server is not None:
            code = server.exit_code(case.exit_within if case.exit != (0,) else CASE_TIMEOUT)
            assert code is not None, f"server still running {case.exit_within:.0f} s after the case ended"
            assert not server.timed_out, f"case ran past {CASE_TIMEOUT} s"
    finally:
        if server is not None:
            server.close()
    assert code in case.exit, (code, server.stderr() if server else outcome.message)
    check_message(case, outcome, server)
    if case.replies is not None:
        assert outcome.replies == case.replies
    if server is not None:
        lines = server.stdout_lines()
        assert all(line.startswith(b"@@TRAX:") for line in lines), lines[:5]
        assert bool(lines) == case.handshake, lines[:5]
    assert tree_hashes(folder, smoke_weights) == before, "an input file changed"
    assert time.monotonic() - started < CASE_TIMEOUT


def check_message(case: Case, outcome: Outcome, server: Optional[Server]) -> None:
    if not case.expect:
        return
    if case.stderr_only:
        text = outcome.message if server is None else server.stderr()
        lines = [line for line in text.splitlines() if all(f in line for f in case.expect)]
        assert len(lines) == 1, text[-3000:]
        return
    reason = outcome.message
    assert reason is not None, "the client got no quit reason"
    assert "\n" not in reason, reason
    assert len(reason) < 600, reason
    for fragment in case.expect:
        assert fragment in reason, reason
    if server is not None:  # the same reason is in the server's log
        assert reason.split("terminated the session: ", 1)[-1] in server.stderr()


def test_the_table_covers_the_issue():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
