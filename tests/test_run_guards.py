"""Nothing lost, nothing silent: the run folder, NaN, one sentence instead of a traceback, stop signals.

Real files, real processes and, where the machine allows it (root), real
tmpfs mounts: a read-only one and a small one that fills up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_train import QUICK, quick_settings

from scratchnet.checkpoint import load_checkpoint, save_checkpoint
from scratchnet.cli import build_parser, main
from scratchnet.data.synthetic import write_image_tree
from scratchnet.metrics import topk_correct
from scratchnet.train import Trainer, TrainingStopped, train

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "scratchnet.cli", *args]


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)


def read_until(process: subprocess.Popen, prefix: str, timeout: float = 120) -> str:
    """The process's output up to and including the first line starting with ``prefix``."""
    lines, deadline = [], time.time() + timeout
    for line in process.stdout:
        lines.append(line)
        if line.startswith(prefix) or time.time() > deadline:
            break
    return "".join(lines)


def strict_json_lines(path: Path) -> list[dict]:
    def refuse(constant):
        raise ValueError(f"{path} holds a bare {constant}: not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def one_sentence_exit_2(capsys, argv: list[str], *expected: str) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err + captured.out
    for text in expected:
        assert text in captured.err, captured.err
    return captured.err


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A real tmpfs mounted at ``path`` (root only; the test is skipped, with the reason, elsewhere)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# -- 1. an existing run folder is never replaced silently ---------------------------------------------

def test_a_folder_holding_a_run_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *QUICK, "--epochs", "2", "--out", str(run)]) == 0
    before = {name: (run / name).read_bytes() for name in ("checkpoint.npz", "log.jsonl", "result.json")}
    capsys.readouterr()
    one_sentence_exit_2(capsys, ["train", *QUICK, "--epochs", "1", "--out", str(run)],
                        "already holds a run", f"--resume {run}", "--overwrite")
    assert {name: (run / name).read_bytes() for name in before} == before
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(run), "--overwrite"]) == 0
    assert "deleted the previous run" in capsys.readouterr().out
    assert [r["epoch"] for r in strict_json_lines(run / "log.jsonl")] == [1]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(empty)]) == 0  # an empty folder is fine


# -- 2. two runs into one folder at once --------------------------------------------------------------

def test_a_second_process_is_refused_while_a_run_holds_the_folder(tmp_path):
    run = tmp_path / "run"
    first = start("train", *QUICK, "--epochs", "200", "--out", str(run))
    try:
        read_until(first, "epoch 1/200")
        # A resume that asks for no more epochs than are done would only run the final test and write result.json.
        second = subprocess.run(cli_command("train", "--resume", str(run), "--epochs", "1"),
                                capture_output=True, text=True, env=ENV, timeout=120)
        assert second.returncode == 2, second
        assert f"is in use by another run (pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first run goes on, its files untouched
        assert load_checkpoint(run)["meta"]["epoch"] >= 1
    finally:
        first.kill()  # SIGKILL: its lock goes with it
        first.communicate()
    done = load_checkpoint(run)["meta"]["epoch"]
    resumed = subprocess.run(cli_command("train", "--resume", str(run), "--epochs", str(done + 1)),
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr  # a dead process's lock blocks nothing


def test_two_runs_started_together_one_trains_the_other_is_refused(tmp_path):
    run = tmp_path / "run"
    processes = [start("train", *QUICK, "--epochs", "2", "--out", str(run)) for _ in range(2)]
    outputs = [p.communicate(timeout=180)[0] for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 2], outputs
    refused = outputs[[p.returncode for p in processes].index(2)]
    assert "in use by another run" in refused or "already holds a run" in refused
    assert [r["epoch"] for r in strict_json_lines(run / "log.jsonl")] == [1, 2]


# -- 3. NaN is not correct ----------------------------------------------------------------------------

def test_non_finite_logits_count_as_wrong():
    logits = np.array([[3.0, 1.0, 0.0], [np.nan, np.nan, np.nan], [np.inf, 0.0, 0.0], [0.0, np.nan, 5.0]])
    labels = np.array([0, 0, 0, 2])
    assert int(topk_correct(logits, labels, 1)) == 1
    assert int(topk_correct(logits, labels, 5)) == 1


def test_weights_that_diverge_in_an_epochs_last_step_keep_the_last_finite_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    before = (run / "checkpoint.npz").read_bytes()
    trainer = Trainer(quick_settings(run, epochs=3), resume=run)
    steps, calls = len(trainer.pipeline.train_loader), []
    original = trainer.optimizer.step

    def step_then_poison_at_epoch_end(grads):
        original(grads)
        calls.append(1)
        if len(calls) == steps:  # the last step of epoch 2: its loss was finite, its update is not
            next(iter(trainer.model.params().values()))[...] = np.nan

    monkeypatch.setattr(trainer.optimizer, "step", step_then_poison_at_epoch_end)
    with pytest.raises(TrainingStopped, match="validation loss became nan after epoch 2") as stopped:
        trainer.run()
    assert "last checkpoint with a finite validation" in str(stopped.value)
    assert (run / "checkpoint.npz").read_bytes() == before
    assert [r["epoch"] for r in strict_json_lines(run / "log.jsonl")] == [1]


def test_evaluate_scores_a_diverged_checkpoint_zero_and_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    checkpoint = load_checkpoint(run)
    model = {name: np.full_like(w, np.nan) for name, w in checkpoint["model"].items()}
    save_checkpoint(run / "checkpoint.npz", model_state=model, meta=checkpoint["meta"],
                    velocity=checkpoint["velocity"], extra=checkpoint["extra"])
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 1
    captured = capsys.readouterr()
    assert "top-1 0.00%" in captured.out and "top-5 0.00%" in captured.out
    assert "NaN or infinite outputs" in captured.err


def test_json_written_by_a_run_has_no_bare_nan():
    from scratchnet.files import json_text

    assert json_text({"loss": float("nan"), "top": [1.0, float("inf")]}) == '{"loss": null, "top": [1.0, null]}'


# -- 4. one sentence, exit 2, never a traceback ---------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("finished") / "run"
    train(quick_settings(run, epochs=1), print_fn=lambda *a: None)
    return run


def copy_with(run: Path, target: Path, *, drop_meta=(), extra=True, velocity=None) -> Path:
    """A copy of ``run``'s checkpoint with meta keys dropped, extra/ arrays removed or velocity replaced."""
    checkpoint = load_checkpoint(run)
    meta = {k: v for k, v in checkpoint["meta"].items() if k not in drop_meta}
    target.mkdir(parents=True)
    save_checkpoint(target / "checkpoint.npz", model_state=checkpoint["model"], meta=meta,
                    velocity=velocity or checkpoint["velocity"], extra=checkpoint["extra"] if extra else None)
    return target


def test_an_empty_checkpoint_is_one_sentence(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.npz").write_bytes(b"")
    for argv in (["evaluate", str(tmp_path / "run")], ["train", "--resume", str(tmp_path / "run")]):
        one_sentence_exit_2(capsys, argv, "is empty (0 bytes)")


def test_random_bytes_never_advise_loading_with_pickle(tmp_path, capsys):
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    err = one_sentence_exit_2(capsys, ["evaluate", str(bad)], "not a readable ScratchNet checkpoint")
    assert "unsafe" not in err and "pickle" not in err


@pytest.mark.parametrize("change, expected", [
    ({"drop_meta": ("schedule", "history")}, "lacks schedule, history"),
    ({"extra": False}, "lacks extra/mean_image"),
])
def test_an_incomplete_checkpoint_is_one_sentence(tmp_path, capsys, finished_run, change, expected):
    run = copy_with(finished_run, tmp_path / "copy", **change)
    for argv in (["evaluate", str(run)], ["train", "--resume", str(run), "--epochs", "2"]):
        one_sentence_exit_2(capsys, argv, expected)


def test_a_velocity_of_the_wrong_shape_is_refused_not_broadcast(tmp_path, capsys, finished_run):
    velocity = dict(load_checkpoint(finished_run)["velocity"])
    name = sorted(velocity)[0]
    velocity[name] = np.zeros(1, np.float32)
    run = copy_with(finished_run, tmp_path / "copy", velocity=velocity)
    one_sentence_exit_2(capsys, ["train", "--resume", str(run), "--epochs", "2"], f"{name} (1,)")


def test_out_naming_a_file_is_one_sentence(tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    one_sentence_exit_2(capsys, ["train", *QUICK, "--out", str(file)], "is a file")
    one_sentence_exit_2(capsys, ["train", *QUICK, "--out", str(file / "run")], f"{file} is a file")
    assert file.read_text() == "mine"


def test_a_read_only_filesystem_is_refused_before_training(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        one_sentence_exit_2(capsys, ["train", *QUICK, "--out", str(read_only / "run")],
                            "cannot write to the run folder", "Read-only file system")


def test_a_full_disk_mid_run_keeps_every_file_whole(tmp_path, capsys):
    with tmpfs(tmp_path / "small", "size=4m") as disk:
        run = disk / "run"
        assert main(["train", *QUICK, "--epochs", "1", "--out", str(run)]) == 0
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != "run.lock"}
        free = os.statvfs(disk)
        # Leave three pages: enough for the lock line, not for the checkpoint (about 36 kB).
        (disk / "filler").write_bytes(bytes(free.f_bavail * free.f_frsize - 3 * free.f_frsize))
        capsys.readouterr()
        one_sentence_exit_2(capsys, ["train", "--resume", str(run), "--epochs", "2"],
                            "No space left on device", "--resume")
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.name != "run.lock"}
        assert after == before  # nothing truncated, nothing half-written, no temporary files left
        assert load_checkpoint(run)["meta"]["epoch"] == 1


def test_a_symlink_loop_in_a_data_folder_is_named_and_skippable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    tree = tmp_path / "tree"
    write_image_tree(tree, ("cat", "dog"), {"train": 12, "test": 3}, size=(16, 16))
    os.symlink("loop.png", tree / "train" / "cat" / "loop.png")  # points at itself: ELOOP
    flags = ["train", "--model", "tiny", "--data", str(tree), "--val-size", "4", "--batch-size", "8", "--epochs", "1"]
    err = one_sentence_exit_2(capsys, [*flags, "--out", str(tmp_path / "a")], "loop.png", "--skip-bad")
    assert "ELOOP" not in err
    assert main([*flags, "--out", str(tmp_path / "b"), "--skip-bad"]) == 0
    assert "left out 1 unreadable files (--skip-bad)" in capsys.readouterr().out


def test_a_checkpoint_of_earlier_code_still_resumes(tmp_path, capsys, finished_run):
    """Settings added since (``skip_bad``) are absent from it, and a default that changed since (``init``) is not
    a difference: the model is the one the checkpoint was built with."""
    checkpoint = load_checkpoint(finished_run)
    meta = dict(checkpoint["meta"])
    meta["settings"] = {k: v for k, v in meta["settings"].items() if k != "skip_bad"}
    meta["model_config"] = {**meta["model_config"], "init": "paper"}  # what earlier code wrote before the default moved
    run = tmp_path / "old"
    run.mkdir()
    save_checkpoint(run / "checkpoint.npz", model_state=checkpoint["model"], meta=meta,
                    velocity=checkpoint["velocity"], extra=checkpoint["extra"])
    assert main(["train", "--resume", str(run), "--epochs", "2", "--skip-bad"]) == 2  # still an identity flag
    assert "--skip-bad True (checkpoint: False)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert load_checkpoint(run)["meta"]["epoch"] == 2


# -- 5. stale temporary files -------------------------------------------------------------------------

def test_temporary_files_of_killed_saves_are_removed_by_the_next_run(tmp_path, capsys, finished_run):
    run = copy_with(finished_run, tmp_path / "copy")
    stale = [run / ".checkpoint.npz.k1ll3d.tmp", run / ".log.jsonl.abc.tmp"]
    for path in stale:
        path.write_bytes(bytes(1_000_000))
    keep = run / ".my-notes.tmp"
    keep.write_text("not ours")
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert "removed 2 temporary file(s) (2.0 MB)" in capsys.readouterr().out
    assert not any(p.exists() for p in stale) and keep.exists()


# -- 6. advice that works, flags that are checked, signals that are kept ---------------------------------

def suggested_flags(message: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", message))


def known_flags(command: str) -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return {flag for action in subparsers.choices[command]._actions for flag in action.option_strings}


def test_every_flag_a_data_error_suggests_is_a_flag_of_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    tree = tmp_path / "tree"
    write_image_tree(tree, ("cat", "dog"), {"train": 12, "test": 3}, size=(16, 16))
    (tree / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    flags = ["train", "--model", "tiny", "--data", str(tree), "--val-size", "4", "--batch-size", "8", "--epochs", "1"]
    err = one_sentence_exit_2(capsys, [*flags, "--out", str(tmp_path / "a")], "broken.png")
    assert suggested_flags(err) and suggested_flags(err) <= known_flags("train"), err
    assert main([*flags, "--out", str(tmp_path / "b"), "--skip-bad"]) == 0


def test_predict_accepts_the_skip_bad_it_suggests(tmp_path, capsys, finished_run):
    from PIL import Image

    broken, good = tmp_path / "broken.jpg", tmp_path / "good.png"
    broken.write_bytes(b"not a jpeg")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(good)
    err = one_sentence_exit_2(capsys, ["predict", str(finished_run), str(broken), str(good)], "broken.jpg")
    assert suggested_flags(err) <= known_flags("predict"), err
    assert main(["predict", str(finished_run), str(broken), str(good), "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert f"skipped {broken}" in captured.err and f"{good}:" in captured.out


@pytest.mark.parametrize("flags, message", [
    (["--weight-decay", "nan"], "--weight-decay must be a number >= 0"),
    (["--momentum", "nan"], "--momentum must be in [0, 1)"),
    (["--conv-width", "0"], "--conv-width must be a positive number"),
    (["--conv-width", "-1"], "--conv-width must be a positive number"),
    (["--conv-width", "nan"], "--conv-width must be a positive number"),
    (["--dropout", "nan"], "--dropout must be in [0, 1)"),
    (["--seed", "-1"], "--seed must be at least 0"),
])
def test_bad_numbers_name_their_flag(tmp_path, capsys, flags, message):
    one_sentence_exit_2(capsys, ["train", *QUICK, "--out", str(tmp_path / "run"), *flags], message)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_evaluate_batch_size_zero_names_the_flag(capsys, finished_run):
    one_sentence_exit_2(capsys, ["evaluate", str(finished_run), "--batch-size", "0"], "--batch-size must be at least 1")


def send_signal_in(trainer: Trainer, split: str, signum=signal.SIGINT):
    """Make the trainer's evaluation of ``split`` ("val" or "test") receive a real signal as it starts."""
    original = trainer._evaluate
    target = getattr(trainer.pipeline, f"{split}_images")

    def evaluate_with_signal(images, labels, **options):
        if images is target:
            os.kill(os.getpid(), signum)
        return original(images, labels, **options)

    trainer._evaluate = evaluate_with_signal


def test_ctrl_c_during_validation_stops_at_the_epoch_end_without_another_step(tmp_path, capsys):
    trainer = Trainer(quick_settings(tmp_path / "run", epochs=3))
    send_signal_in(trainer, "val")
    result = trainer.run()
    assert result["interrupted"]
    meta = load_checkpoint(tmp_path / "run")["meta"]
    assert (meta["epoch"], meta["step_in_epoch"], len(meta["history"])) == (1, 0, 1)
    assert "finishing this epoch's validation" in capsys.readouterr().out


def test_ctrl_c_during_the_final_test_stops_it_and_says_how_to_test(tmp_path, capsys):
    trainer = Trainer(quick_settings(tmp_path / "run", epochs=1))
    send_signal_in(trainer, "test")
    result = trainer.run()
    assert result["interrupted"]
    assert not (tmp_path / "run" / "result.json").exists()
    assert f"scratchnet evaluate {tmp_path / 'run'}" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run")["meta"]["epoch"] == 1  # training itself was complete and saved


def test_sigterm_is_treated_like_ctrl_c(tmp_path):
    run = tmp_path / "run"
    process = start("train", *QUICK, "--epochs", "200", "--out", str(run))
    output = read_until(process, "epoch 1/200")
    process.send_signal(signal.SIGTERM)
    output += process.communicate(timeout=120)[0]
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "\nSIGTERM: " in output and "checkpoint written" in output and "--resume" in output
    assert load_checkpoint(run)["meta"]["epoch"] >= 1
