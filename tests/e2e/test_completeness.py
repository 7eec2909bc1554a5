"""Results completeness, analysis (Q), report and pack on a model-free TraX tracker; evaluate job offline."""

import re
from pathlib import Path

import pytest

import vots_tracker.evaluation.outputs as outputs
import vots_tracker.evaluation.toolkit as toolkit
import vots_tracker.workspace.folder as wsmod
from vots_tracker.errors import UserError


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, e2e_support):
    """A synthetic workspace in which `vot evaluate static` has run (module-scoped: ~3 s)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wsmod, "init_random_weights", e2e_support.placeholder_weights)
        ws = wsmod.init_workspace(tmp_path_factory.mktemp("static") / "ws", synthetic=2, frames=8,
                                  size=(160, 120), objects=3)
    with open(ws / "trackers.ini", "a", encoding="utf-8") as handle:
        handle.write(e2e_support.static_entry)
    run = toolkit.run_vot(["evaluate", "--workspace", str(ws), "static"], ws, "evaluate-static", offline=True)
    assert "Evaluation concluded successfuly" in run.log.read_text()
    return ws


def _result_files(ws: Path, tracker: str = "static"):
    return sorted((ws / "results" / tracker / "baseline").glob("*/*_001.*"))


def test_complete_results_have_no_problems(evaluated):
    # 2 sequences x 3 objects, one repetition
    assert len(_result_files(evaluated)) == 6
    assert outputs.check_results(evaluated, "static") == []


def test_deleted_result_is_reported(evaluated, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(evaluated, ws)
    victim = [p for p in _result_files(ws) if p.parent.name == "synthetic-02" and "_002_" in p.name][0]
    victim.unlink()
    problems = outputs.check_results(ws, "static")
    assert len(problems) == 1, problems
    assert "synthetic-02" in problems[0] and "object 002" in problems[0] and "no result file" in problems[0]


def test_truncated_result_is_reported(evaluated, tmp_path):
    import shutil

    from vot.tracker.results import Results, Trajectory
    from vot.workspace.storage import LocalStorage

    ws = tmp_path / "ws"
    shutil.copytree(evaluated, ws)
    folder = ws / "results" / "static" / "baseline" / "synthetic-01"
    results = Results(LocalStorage(str(folder)))
    name = "synthetic-01_001_001"
    full = Trajectory.read(results, name)
    short = Trajectory(len(full) - 3)
    for i in range(len(short)):
        short.set(i, full.region(i))
    for stale in folder.glob(name + ".*"):
        stale.unlink()
    short.write(results, name)
    problems = outputs.check_results(ws, "static")
    assert len(problems) == 1, problems
    assert "object 001" in problems[0] and "5 frames" in problems[0] and "has 8" in problems[0]


def test_unknown_tracker_and_missing_sequences(evaluated, tmp_path):
    with pytest.raises(UserError, match="not in the workspace registry"):
        outputs.check_results(evaluated, "nope")
    ws = wsmod.init_workspace(tmp_path / "ws")  # vots2024/main, nothing downloaded
    with pytest.raises(UserError, match="list.txt is missing"):
        outputs.check_results(ws, "hqsam_gate")


def test_never_run_tracker_lists_every_object(evaluated):
    problems = outputs.check_results(evaluated, "dmaot_smoke")
    assert len(problems) == 6 and all("no result file" in p for p in problems)


def test_analysis_report_pack(evaluated):
    toolkit.clear_cache(evaluated)
    toolkit.run_vot(["analysis", "--workspace", str(evaluated), "--name", "t", "static"], evaluated,
                    "analysis", offline=True)
    assert toolkit.toolkit_env(evaluated, base={})["NUMBA_CACHE_DIR"] == str(evaluated / toolkit.NUMBA_CACHE)
    q = outputs.read_quality(outputs.analysis_json(evaluated, "t"), "static")
    assert 0.0 < q < 1.0
    with pytest.raises(toolkit.ToolkitError, match="was not analysed"):
        outputs.read_quality(outputs.analysis_json(evaluated, "t"), "dmaot_smoke")
    from vots_tracker.evaluation.evaluate import pack

    archive = pack(evaluated, "static", offline=True)
    import zipfile

    names = zipfile.ZipFile(archive).namelist()
    assert "manifest.yml" in names and sum(n.startswith("baseline/") for n in names) >= 6


def test_pack_refuses_incomplete(evaluated, tmp_path):
    from vots_tracker.evaluation.evaluate import pack

    with pytest.raises(toolkit.ToolkitError, match="wrote no dmaot_smoke"):
        pack(evaluated, "dmaot_smoke", offline=True)


def test_offline_guard_blocks_toolkit_download(tmp_path):
    """`run_vot(offline=True)` turns the toolkit's dataset download into an error."""
    ws = wsmod.init_workspace(tmp_path / "ws")  # vots2024/main: loading it would download
    with pytest.raises(toolkit.ToolkitError, match="offline run refused to download https://"):
        toolkit.run_vot(["evaluate", "--workspace", str(ws), "hqsam_gate"], ws, "guard", offline=True)
    assert not (ws / "sequences" / "list.txt").exists()


def test_evaluate_offline_stops_at_first_missing_checkpoint(tmp_path, monkeypatch, capsys):
    """Offline, the main job fails with ONE message naming the file, its URL and where to put it."""
    from vots_tracker.cli import main

    monkeypatch.setenv("VOTS_TRACKER_WEIGHTS_MIRROR", "http://127.0.0.1:9")  # closed loopback port
    rc = main(["evaluate", "--workspace", str(tmp_path / "ws"), "--weights-dir", str(tmp_path / "w")])
    assert rc != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vots-tracker: error:")]
    assert len(err) == 1, err
    message = err[0]
    assert "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth" in message
    assert "https://drive.google.com/" in message
    assert str(tmp_path / "w" / "SwinB_DeAOTL_PRE_YTB_DAV_VIP_MOSE_OVIS_LASOT_GOT.pth") in message
    assert not (tmp_path / "ws").exists()  # stopped before touching the workspace


def test_smoke_job_plumbing_with_static_tracker(tmp_path, fake_weights, add_static_tracker, capsys):
    """The smoke job's steps and output lines, on the model-free tracker (reusing a prepared workspace)."""
    from vots_tracker.evaluation.smoke import run_smoke

    ws = wsmod.init_workspace(tmp_path / "ws", synthetic=2, frames=6, size=(128, 96), objects=2)
    add_static_tracker(ws)
    rc = run_smoke(ws, trackers=["static"], keep=True)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "test static: ok" in out and "evaluate static: ok, results complete" in out
    assert re.search(r"^Q static: 0\.\d{4}$", out, re.M), out
    assert re.search(r"^pack static: .+/static_.+\.zip$", out, re.M), out
    assert re.search(r"^report: .+report\.html$", out, re.M), out
    assert out.rstrip().splitlines()[-1].startswith("smoke: OK")

    # a tracker that cannot run: the job must fail (the toolkit itself exits 0)
    rc = run_smoke(ws, trackers=["static", "dmaot_smoke"], keep=True, skip_test=True)
    out = capsys.readouterr().out
    assert rc == 1
    assert "evaluate dmaot_smoke: FAILED" in out and "smoke: FAILED" in out


def test_smoke_refuses_to_recreate_a_real_workspace(tmp_path):
    from vots_tracker.evaluation.smoke import run_smoke

    ws = wsmod.init_workspace(tmp_path / "ws")  # vots2024/main
    (ws / "results" / "precious").mkdir(parents=True)
    with pytest.raises(UserError, match="not a smoke workspace"):
        run_smoke(ws)
    assert (ws / "results" / "precious").is_dir()
