"""Run folders: the state that decides reuse / resume / fresh, safe preparation, folds."""

from __future__ import annotations

import json
import re

import pytest

from nerveseg import runs
from nerveseg.errors import NervesegError
from nerveseg.runs import RunState, run_state


def make_run(folder, *files: str):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", *files):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    return folder


def test_states(tmp_path):
    assert run_state(tmp_path / "missing") is RunState.NEW
    (tmp_path / "empty").mkdir()
    assert run_state(tmp_path / "empty") is RunState.NEW
    assert run_state(make_run(tmp_path / "started")) is RunState.STARTED
    resumable = make_run(tmp_path / "resumable", "checkpoints/last.ckpt")
    assert run_state(resumable) is RunState.RESUMABLE
    finished = make_run(tmp_path / "finished", "checkpoints/last.ckpt", "summary.json")
    assert run_state(finished) is RunState.FINISHED


def test_a_folder_that_is_not_a_run_is_never_taken_for_one(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NervesegError, match="not a nerveseg run"):
        run_state(tmp_path)
    with pytest.raises(NervesegError, match="not a nerveseg run"):
        runs.prepare_run_dir(tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(NervesegError, match="not a folder"):
        run_state(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("files", "words"),
    [(("checkpoints/last.ckpt",), "an unfinished run"), (("summary.json",), "a finished run")],
)
def test_prepare_refuses_an_existing_run_and_names_the_ways_forward(tmp_path, files, words):
    run = make_run(tmp_path / "run", *files)
    with pytest.raises(NervesegError, match=words) as error:
        runs.prepare_run_dir(run)
    assert "--resume" in str(error.value) and "--overwrite" in str(error.value)
    runs.prepare_run_dir(run, overwrite=True)
    assert [p.name for p in run.iterdir()] == [runs.MARKER]


def test_a_failed_start_is_prepared_again_without_overwrite(tmp_path):
    run = make_run(tmp_path / "run", "split.json")  # config, no checkpoint: a failed start
    assert run_state(run) is RunState.STARTED
    runs.prepare_run_dir(run)
    assert [p.name for p in run.iterdir()] == [runs.MARKER]


def test_overwrite_removes_only_what_nerveseg_wrote(tmp_path):
    run = make_run(tmp_path / "run", "summary.json", "checkpoints/last.ckpt", "model.pt")
    runs.prepare_run_dir(run, overwrite=True)
    (run / "notes.txt").write_text("mine")  # a marked run with a user's file in it
    make_run(run, "summary.json", "model.pt")
    runs.prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == [runs.MARKER, "notes.txt"]


def test_an_unmarked_folder_is_a_run_only_if_it_holds_nothing_else(tmp_path):
    legacy = make_run(tmp_path / "legacy", "summary.json", "checkpoints/last.ckpt")
    assert runs.is_run(legacy) and run_state(legacy) is RunState.FINISHED
    project = make_run(tmp_path / "project", "summary.json")
    (project / "notes.txt").write_text("mine")
    (project / "src").mkdir()
    assert not runs.is_run(project)
    with pytest.raises(NervesegError, match="not a nerveseg run"):
        runs.prepare_run_dir(project, overwrite=True)
    assert sorted(p.name for p in project.iterdir()) == [
        "config.yaml", "notes.txt", "src", "summary.json"
    ]  # fmt: skip


def test_a_second_process_is_refused_with_the_first_ones_pid(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from nerveseg import runs\n"
         f"with runs.run_lock({str(run)!r}):\n print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(NervesegError, match=f"PID {holder.pid}"), runs.run_lock(run):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
    assert (run / runs.LOCK).is_file()  # kill -9 skipped the holder's clean-up ...
    with runs.run_lock(run):  # ... but the system dropped its lock: taken over
        pass
    assert not (run / runs.LOCK).exists()


def test_prepare_creates_a_new_folder(tmp_path):
    runs.prepare_run_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_resume_needs_a_last_checkpoint(tmp_path):
    with pytest.raises(NervesegError, match="nothing to resume"):
        runs.require_resumable(make_run(tmp_path / "run"))
    runs.require_resumable(make_run(tmp_path / "run", "checkpoints/last.ckpt"))


def test_folds_are_found_in_numeric_order_and_only_by_their_name(tmp_path):
    for name in ("fold-10", "fold-2", "fold-0", "fold-x", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "fold-3").write_text("a file, not a fold")
    assert [p.name for p in runs.fold_dirs(tmp_path)] == ["fold-0", "fold-2", "fold-10"]
    assert runs.is_cross_validation(tmp_path)
    assert runs.fold_run(tmp_path, 2) == tmp_path / "fold-2"
    (tmp_path / "model.pt").write_text("")
    assert not runs.is_cross_validation(tmp_path)  # a run that has a model is a single run


def test_model_files_of_an_unfinished_cross_validation_say_how_to_finish(tmp_path):
    make_run(tmp_path / "fold-0", "model.pt")
    make_run(tmp_path / "fold-1")
    with pytest.raises(NervesegError, match=re.escape("fold-1 has no model.pt")) as error:
        runs.model_files(tmp_path)
    assert "--fold all --resume" in str(error.value)
    with pytest.raises(NervesegError, match=re.escape("no model.pt here; train first")):
        runs.model_files(tmp_path / "nothing")


def test_data_root_comes_from_split_json_of_the_run_or_its_first_fold(tmp_path):
    for folder in (tmp_path / "single", tmp_path / "cv" / "fold-0"):
        folder.mkdir(parents=True)
        (folder / "split.json").write_text(json.dumps({"data": f"/data/{folder.name}"}))
    assert str(runs.data_root(tmp_path / "single")) == "/data/single"
    assert str(runs.data_root(tmp_path / "cv")) == "/data/fold-0"
    with pytest.raises(NervesegError, match="missing"):
        runs.read_json(tmp_path / "cv" / "split.json")
