"""Gate decision files: the record, where `serve` puts it, reading what a killed process left,
and the same lines from `serve` and `track` (real server, real libtrax client, random-init weights)."""

import json
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from trax_harness import ServerProcess, image, regions, reply_masks, write_clip
from vots_tracker.server.decision_log import (
    ENV_TRACKER_NAME,
    DecisionFileError,
    DecisionLog,
    frame_record,
    header,
    mask_digest,
    read_decisions,
    workspace_decision_file,
)


def _report(accepted, iou, proposal, redetected=False):
    return SimpleNamespace(accepted=accepted, iou=iou, proposal=proposal, redetected=redetected)


def test_frame_record_lists_every_object_in_arrival_order():
    shape = (6, 8)
    final = {1: np.zeros(shape, bool), 2: np.zeros(shape, bool), 3: np.zeros(shape, bool)}
    final[1][1:3, 1:4] = True
    final[3][4:, :2] = True
    reports = {1: _report(True, 0.8123456789, "hq"), 2: _report(False, 0.0, None)}
    record = frame_record(5, [1, 2, 3], final, reports, present=[1], given=[3])
    assert record["frame"] == 5 and record["ids"] == [1, 2, 3]
    assert record["given"] == [False, False, True] and record["present"] == [True, False, False]
    assert record["proposal"] == ["hq", None, None] and record["iou"] == [0.812346, None, None]
    assert record["accepted"] == [True, False, False] and record["area"] == [6, 0, 4]
    assert record["crc"] == [mask_digest(final[1]), mask_digest(final[2]), mask_digest(final[3])]
    assert mask_digest(final[1]) != mask_digest(final[3]) and record["fault"] is None
    json.dumps(record)  # plain JSON types only


def test_reader_keeps_everything_up_to_the_last_complete_line(tmp_path):
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, header("t", "seq", 0.59, "exact", "all"))
    masks = {1: np.ones((2, 2), bool)}
    for frame in range(3):
        log.write(frame_record(frame, [1], masks, {}, given=[1] if frame == 0 else ()))
    complete = path.read_bytes()  # flushed line by line: readable while the log is still open
    assert read_decisions(path).frames.keys() == {0, 1, 2}
    log.close()

    path.write_bytes(complete + b'{"frame":3,"ids":[1],"giv')  # a write cut short by a kill
    decisions = read_decisions(path)
    assert sorted(decisions.frames) == [0, 1, 2] and "unfinished" in decisions.torn
    assert decisions.header["tau"] == 0.59 and decisions.column(1, "given") == {0: True, 1: False, 2: False}

    path.write_bytes(complete + b'{"frame":3,"ids"\n')  # a newline after a cut (not JSON): the last line
    assert sorted(read_decisions(path).frames) == [0, 1, 2]

    lines = complete.split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + [b"{broken"] + lines[2:]))  # damage before the end is an error
    with pytest.raises(DecisionFileError, match=r"d\.jsonl:3: not JSON"):
        read_decisions(path)
    path.write_bytes(b'{"frame": 0}\n')
    with pytest.raises(DecisionFileError, match="not a gate decision file"):
        read_decisions(path)


def test_serve_finds_its_workspace_from_the_frame_path(tmp_path, caplog):
    sequence = tmp_path / "ws" / "sequences" / "seq-a"
    (sequence / "color").mkdir(parents=True)
    (sequence / "sequence").write_text("channels.color=color/%08d.jpg\n")
    frame = sequence / "color" / "00000001.jpg"
    env = {ENV_TRACKER_NAME: "my_tracker"}
    assert workspace_decision_file(str(frame), env) is None  # no config.yaml: not a workspace
    (tmp_path / "ws" / "config.yaml").write_text("stack: x\n")
    assert workspace_decision_file(str(frame), env) == tmp_path / "ws" / "logs" / "gate" / "my_tracker" / "seq-a.jsonl"
    link = tmp_path / "route"
    link.symlink_to(tmp_path / "ws")  # `evaluate`'s ASCII route: the path stays the link's
    assert workspace_decision_file(str(link / "sequences" / "seq-a" / "color" / "x.jpg"), env).parent.parent.parent \
        == link / "logs"
    with caplog.at_level("INFO"):
        assert workspace_decision_file(str(frame), {}) is None
        assert workspace_decision_file(str(frame), {ENV_TRACKER_NAME: "../x"}) is None
    assert "VOTS_TRACKER_NAME is not set" in caplog.text and "is not a tracker name" in caplog.text


SIZE = (120, 160)  # objects large enough for random-init DMAOT to keep some of them


def _workspace_clip(root: Path, frames: int):
    """A clip laid out as a toolkit workspace's sequence (what `serve` recognises)."""
    sequence = root / "ws" / "sequences" / "clip"
    paths, masks = write_clip(sequence / "color", frames, objects=3, size=SIZE)
    (sequence / "sequence").write_text("channels.color=color/%08d.jpg\n")
    (root / "ws" / "config.yaml").write_text("stack: none\n")
    return paths, masks, root / "ws" / "logs" / "gate" / "gated" / "clip.jsonl"


@pytest.fixture(scope="module")
def killed_serve(tmp_path_factory, smoke_weights):
    """`serve` (hqsam_gate_smoke, tau 0.2) in a workspace layout, SIGKILLed after 4 of 6 frames."""
    root = tmp_path_factory.mktemp("killed-serve")
    paths, masks, target = _workspace_clip(root, 6)
    server = ServerProcess(["--preset", "hqsam_gate_smoke", "--weights-dir", str(smoke_weights), "--tau", "0.2"],
                           cwd=root, env={ENV_TRACKER_NAME: "gated"})  # what the workspace's trackers.ini entry sets
    replies = []
    with server:
        client = server.connect()
        reply, _ = client.initialize(image(paths[0]), regions(masks[0][:2]), {})
        replies.append(reply_masks(reply, SIZE))
        for t in (1, 2, 3):
            reply, _ = client.frame(image(paths[t]), {}, regions([masks[t][2]]) if t == 2 else [])
            replies.append(reply_masks(reply, SIZE))
        server.abandoned = True
        server.signal(signal.SIGKILL)  # mid-sequence: no QUIT, no close()
        assert server.exit_code(30) == -signal.SIGKILL
    return SimpleNamespace(paths=paths, masks=masks, replies=replies, target=target)


@pytest.mark.slow
def test_killed_server_leaves_a_readable_file_that_matches_its_replies(killed_serve):
    decisions = read_decisions(killed_serve.target)
    assert decisions.header["tracker"] == "gated" and decisions.header["sequence"] == "clip"
    assert decisions.header["tau"] == 0.2 and decisions.torn is None
    assert sorted(decisions.frames) == [0, 1, 2, 3]
    for frame, replied in enumerate(killed_serve.replies):  # one entry per object seen so far: the mask it replied
        record = decisions.frames[frame]
        assert record["ids"] == list(range(1, len(replied) + 1))
        assert record["crc"] == [mask_digest(m) for m in replied]
        assert record["area"] == [int(m.sum()) for m in replied]
    assert decisions.frames[0]["given"] == [True, True] and decisions.frames[2]["given"] == [False, False, True]
    gated = [(f, n) for f, r in decisions.frames.items() for n, p in enumerate(r["present"]) if p]
    assert gated and all(decisions.frames[f]["iou"][n] is not None for f, n in gated)


@pytest.mark.slow
def test_track_writes_the_same_lines_as_serve(tmp_path, smoke_weights, killed_serve):
    """`vots-tracker track` on the same frames and objects keeps the same frame records."""
    from vots_tracker.cli import main
    from vots_tracker.media.palette import write_palette_png

    paths, masks = killed_serve.paths, killed_serve.masks
    mask_dir = tmp_path / "masks"
    mask_dir.mkdir()
    for frame, ids in ((0, (1, 2)), (2, (3,))):
        labels = np.zeros(SIZE, np.uint8)
        for object_id in ids:
            labels[masks[frame][object_id - 1]] = object_id
        write_palette_png(mask_dir / f"{paths[frame].stem}.png", labels)
    out = tmp_path / "out"
    assert main(["track", "--frames", str(paths[0].parent), "--masks", str(mask_dir), "--out", str(out),
                 "--no-progress", "--preset", "hqsam_gate_smoke", "--tau", "0.2",
                 "--weights-dir", str(smoke_weights)]) == 0
    tracked = read_decisions(out / "gate_decisions.jsonl")
    served = read_decisions(killed_serve.target)
    assert tracked.header["sequence"] == "color" and tracked.header["tau"] == 0.2
    assert sorted(tracked.frames) == list(range(len(paths)))
    for frame in served.frames:
        assert tracked.frames[frame] == served.frames[frame], frame
