"""The TraX server driven by the real libtrax client (vot-trax), on random-init weights.

Driven through tests/trax_harness.py, whose relay checks that stdout carried nothing but
protocol lines.
"""

import signal

import numpy as np
import pytest
import trax

from trax_harness import H, W, ServerProcess, image, regions, write_clip


@pytest.fixture()
def clip(tmp_path):
    return write_clip(tmp_path / "frames", frames=6, objects=3)


def start(tmp_path, weights_dir, preset="dmaot_smoke", *extra):
    return ServerProcess(["--preset", preset, "--weights-dir", str(weights_dir), *extra], cwd=tmp_path)


@pytest.mark.slow
def test_objects_initialised_later_are_always_listed(tmp_path, smoke_weights, clip):
    paths, masks = clip
    server = start(tmp_path, smoke_weights, "hqsam_gate_smoke", "--redetect", "--cycle")
    try:
        client = server.connect()
        assert client.get("multiobject")
        reply, _ = client.initialize(image(paths[0]), regions(masks[0][:2]), {})
        assert len(reply) == 2
        counts = []
        for t in range(1, len(paths)):
            new = regions([masks[t][2]]) if t == 3 else []
            reply, _ = client.frame(image(paths[t]), {}, new)
            counts.append(len(reply))
            for region, _props in reply:
                assert region.type == trax.Region.MASK
                width, height = region.size()
                x, y = region.offset()
                assert x + width <= W and y + height <= H
        assert counts == [2, 2, 3, 3, 3]
    finally:
        server.close()
    assert server.proc.returncode == 0, server.stderr()
    assert server.stdout_lines() and server.protocol_only(), server.stdout_lines()[:5]
    assert "initialized 2 object(s)" in server.stderr()


def run_until_error(client, paths, masks, first_objects=None, bad_frame=None):
    """Initialise, then send frames (one of them replaced by bad_frame); return the quit reason."""
    with pytest.raises(trax.TraxException) as error:
        client.initialize(image(paths[0]), first_objects or regions(masks[0][:2]), {})
        for t in range(1, len(paths)):
            path = bad_frame if (bad_frame is not None and t == 2) else paths[t]
            client.frame(image(path), {}, [])
    return str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["missing", "unreadable", "mask_outside"])
def test_errors_end_the_session_with_a_named_cause(tmp_path, smoke_weights, clip, problem):
    paths, masks = clip
    server = start(tmp_path, smoke_weights)
    try:
        client = server.connect()
        if problem == "missing":
            reason = run_until_error(client, paths, masks, bad_frame=tmp_path / "nope" / "00000099.jpg")
            assert "frame file not found" in reason and "00000099.jpg" in reason
        elif problem == "unreadable":
            broken = tmp_path / "broken.jpg"
            broken.write_bytes(b"this is not a jpeg")
            reason = run_until_error(client, paths, masks, bad_frame=broken)
            assert "cannot decode frame image" in reason and "broken.jpg" in reason
        else:
            big = np.ones((H + 10, W + 10), dtype=np.uint8)
            region = trax.Mask.create(big, 0, 0)
            reason = run_until_error(client, paths, masks, first_objects=[(region, {})])
            assert "object 1" in reason and "outside" in reason
    finally:
        server.close()
    assert server.proc.returncode == 1
    assert server.protocol_only(), server.stdout_lines()[:5]


def test_missing_checkpoint_is_reported_through_the_protocol(tmp_path, clip):
    paths, masks = clip
    empty = tmp_path / "no-weights"
    empty.mkdir()
    server = start(tmp_path, empty)
    try:
        with pytest.raises(trax.TraxException, match="DeAOTT_PRE_YTB_DAV.pth"):
            server.connect().initialize(image(paths[0]), regions(masks[0][:1]), {})
    finally:
        server.close()
    assert server.proc.returncode == 1
    assert "DeAOTT_PRE_YTB_DAV.pth" in server.stderr()


@pytest.mark.slow
def test_sigterm_mid_sequence_ends_the_server_cleanly(tmp_path, smoke_weights, clip):
    """SIGTERM between frames: exit 143 (128 + 15), one line on stderr, a TraX quit on stdout, nothing else."""
    paths, masks = clip
    server = start(tmp_path, smoke_weights)
    try:
        client = server.connect()
        client.initialize(image(paths[0]), regions(masks[0][:2]), {})
        client.frame(image(paths[1]), {}, [])
        server.signal(signal.SIGTERM)
        code = server.exit_code(30)
        with pytest.raises(trax.TraxException, match="vots-tracker stopped by SIGTERM"):
            client.frame(image(paths[2]), {}, [])
        server.abandoned = True
    finally:
        server.close()
    stderr = server.stderr()
    assert code == 143, stderr
    lines = [line for line in stderr.splitlines() if "SIGTERM" in line]
    assert len(lines) == 1 and "interrupted by SIGTERM after 1 frame(s); exiting with status 143" in lines[0], stderr
    assert "Traceback" not in stderr, stderr
    assert server.protocol_only(), server.stdout_lines()[-5:]
    assert server.stdout_lines()[-1].startswith(b"@@TRAX:quit"), server.stdout_lines()[-1]
