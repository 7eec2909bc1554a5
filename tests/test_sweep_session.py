"""The sweep's shared pass against the tracker run once per setting (real models, random-init weights)."""

import copy

import numpy as np
import pytest

from synthetic import moving_blobs
from vots_tracker.config import make_config
from vots_tracker.refine.hqsam import proposal_tokens
from vots_tracker.server.session import Tracker
from vots_tracker.evaluation.sweep.settings import GateSetting
from vots_tracker.evaluation.sweep.shared_pass import SweepSession

LATE = {2: [3]}  # object 3 arrives on frame 2 and claims its pixels from the others


@pytest.fixture(scope="module")
def tracker(smoke_tracker):
    return smoke_tracker  # loaded once per session (tests/conftest.py); stateless between sequences


def derived(tracker, setting: GateSetting):
    """The tracker a derived entry's `serve ... --tau T [--proposals P]` builds, on the same loaded models."""
    overrides = {"tau": setting.tau}
    if setting.proposals:
        overrides["proposals"] = setting.proposals
    config = make_config("hqsam_gate_smoke", weights_dir=tracker.config.weights_dir, **overrides)
    refiner = copy.copy(tracker.refiner)
    refiner.names = proposal_tokens(config.proposals)  # what HQSamRefiner(proposals=...) sets
    return Tracker(config, tracker.dmaot_model, refiner, tracker.device)


def frames_and_new(clip):
    late_ids = {i for ids in LATE.values() for i in ids}
    for t, (frame, masks) in enumerate(clip):
        if t == 0:
            yield frame, {i: m for i, m in masks.items() if i not in late_ids}
        else:
            yield frame, {i: masks[i] for i in LATE.get(t, [])}


def run(session, clip):
    with session:
        return [session.step(frame, new) for frame, new in frames_and_new(clip)]


def same(a, b) -> bool:
    return all(list(fa) == list(fb) and all(np.array_equal(fa[k], fb[k]) for k in fa) for fa, fb in zip(a, b))


@pytest.mark.slow
def test_every_setting_equals_its_own_tracker_and_tau_one_equals_dmaot(tracker):
    clip = moving_blobs(frames=3)
    # Proposal subsets (hq, 2), a set that is not a subset (single: summed logits), and tau 1.
    settings = [GateSetting("0", "hq"), GateSetting("0.3", "single"), GateSetting("0.5", "2"), GateSetting("1")]
    sweep = SweepSession(tracker, settings)
    swept = run(sweep, clip)
    per_setting = [[frame[n] for frame in swept] for n in range(len(settings))]

    for setting, masks in zip(settings[:3], per_setting):
        alone = run(derived(tracker, setting).new_session(), clip)
        assert same(masks, alone), f"{setting} differs from its own tracker"
    dmaot = Tracker(make_config("hqsam_gate_smoke", sam="none"), tracker.dmaot_model, None, tracker.device)
    assert same(per_setting[3], run(dmaot.new_session(), clip))

    assert sweep.accepted[0] > 0 and sweep.accepted[3] == 0 and (sweep.decisions > 0).all()
    assert not same(per_setting[0], per_setting[3])  # the gate did change something
