"""`scratchnet train`: the loop, checkpoints, resume, guard rails, evaluate and predict."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchnet.checkpoint import load_checkpoint
from scratchnet.cli import main
from scratchnet.train import Trainer, TrainingStopped, TrainSettings, train

# The tiny model on 400 of the bundled digits: a run of a few seconds.
QUICK = ["--model", "tiny", "--dataset", "digits", "--limit-train", "400", "--val-size", "100",
         "--batch-size", "50", "--log-every", "2"]


def quick_settings(out, **changes) -> TrainSettings:
    values = dict(model="tiny", dataset="digits", limit_train=400, val_size=100, batch_size=50, log_every=2,
                  epochs=2, out=str(out))
    values.update(changes)
    return TrainSettings(**values)


def test_a_change_of_rate_says_which_rule_made_it(tmp_path, capsys):
    train(quick_settings(tmp_path / "run", schedule="step", step_every=1, limit_train=100, epochs=2))
    out = capsys.readouterr().out
    assert "step schedule, every 1 epochs: learning rate 0.01 -> 0.001" in out
    assert "stopped improving" not in out  # the plateau rule's reason, which this run never used


def weights(run_dir) -> dict:
    return load_checkpoint(run_dir)["model"]


def test_a_run_leaves_checkpoint_log_plot_and_result(tmp_path, capsys):
    result = train(quick_settings(tmp_path / "run", epochs=3))
    out = capsys.readouterr().out
    assert "epoch 3/3" in out and "test: top-1 accuracy" in out
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all(np.isfinite(r["train_loss"]) and 0 <= r["val_top1"] <= 1 for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert (run / "curves.png").stat().st_size > 1000
    assert json.loads((run / "result.json").read_text())["test_top1"] == result["test_top1"]
    with np.load(run / "checkpoint.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    meta = load_checkpoint(run)["meta"]
    assert meta["epoch"] == 3 and meta["model_config"]["name"] == "tiny"


def test_resume_ends_with_the_same_weights(tmp_path):
    train(quick_settings(tmp_path / "full", epochs=3))
    train(quick_settings(tmp_path / "part", epochs=1))
    assert load_checkpoint(tmp_path / "part")["meta"]["epoch"] == 1
    train(quick_settings(tmp_path / "ignored", epochs=3), resume=tmp_path / "part")
    full, resumed = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert set(full) == set(resumed)
    for name in full:
        np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)
    velocity_full = load_checkpoint(tmp_path / "full")["velocity"]
    velocity_resumed = load_checkpoint(tmp_path / "part")["velocity"]
    for name in velocity_full:
        np.testing.assert_array_equal(velocity_resumed[name], velocity_full[name], err_msg=name)


def test_stop_mid_epoch_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    train(quick_settings(tmp_path / "full", epochs=2))
    trainer = Trainer(quick_settings(tmp_path / "part", epochs=2))
    original = trainer._read_pending
    calls = []

    def stop_after_second_read(*args):
        original(*args)
        if len(trainer.history) == 1:  # in epoch 2
            calls.append(1)
            if len(calls) == 2:  # after its 4th step, as if Ctrl-C had been pressed
                trainer._stop_requested = True

    monkeypatch.setattr(trainer, "_read_pending", stop_after_second_read)
    result = trainer.run()
    assert result["interrupted"]
    meta = load_checkpoint(tmp_path / "part")["meta"]
    assert (meta["epoch"], meta["step_in_epoch"]) == (1, 4)
    train(quick_settings(tmp_path / "part", epochs=2), resume=tmp_path / "part")
    full, resumed = weights(tmp_path / "full"), weights(tmp_path / "part")
    for name in full:
        np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)
    log = [json.loads(line) for line in (tmp_path / "part" / "log.jsonl").read_text().splitlines()]
    full_log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in log] == pytest.approx([r["train_loss"] for r in full_log], rel=1e-6)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    before = (run / "checkpoint.npz").read_bytes()
    trainer = Trainer(quick_settings(run, epochs=3), resume=run)
    trainer.optimizer.lr = 1e12  # diverges within a few steps
    with pytest.raises(TrainingStopped, match=r"at epoch 2, step \d+") as stopped:
        trainer.run()
    assert "last good checkpoint" in str(stopped.value)
    assert (run / "checkpoint.npz").read_bytes() == before
    assert all(np.all(np.isfinite(w)) for w in weights(run).values())


def test_nan_loss_exits_nonzero_from_the_command_line(tmp_path, capsys):
    code = main(["train", *QUICK, "--epochs", "2", "--lr", "1e12", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 1
    assert "stopped: the loss became" in out and "epoch 1, step" in out


def test_checkpoint_from_another_configuration_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    code = main(["train", "--resume", str(run), "--model", "cifar", "--epochs", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--model 'cifar' (checkpoint: 'tiny')" in err
    code = main(["train", "--resume", str(run), "--towers", "1", "--activation", "tanh"])
    err = capsys.readouterr().err
    assert code == 2 and "--towers 1" in err and "--activation 'tanh'" in err


def test_loading_into_a_model_of_another_configuration_names_the_mismatch(tmp_path):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    trainer = Trainer(quick_settings(tmp_path / "other", epochs=1, model_options={"lrn": False}))
    with pytest.raises(ValueError, match=r"another model configuration.*'lrn': \(True, False\)"):
        trainer._restore(load_checkpoint(run))


def test_a_corrupt_checkpoint_gives_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes(b"not a zip file")
    assert main(["evaluate", str(bad)]) == 2
    assert "not a readable ScratchNet checkpoint" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_ctrl_c_leaves_a_loadable_checkpoint(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "scratchnet.cli", "train", *QUICK, "--epochs", "200", "--out", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    deadline = time.time() + 120
    for line in process.stdout:  # wait until training is under way
        lines.append(line)
        if line.startswith("epoch 1/200") or time.time() > deadline:
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    assert "checkpoint written" in output and "--resume" in output
    checkpoint = load_checkpoint(run)
    assert checkpoint["meta"]["epoch"] >= 1
    assert main(["train", "--resume", str(run), "--epochs", str(checkpoint["meta"]["epoch"] + 1)]) == 0


def test_evaluate_and_predict_a_checkpoint(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    capsys.readouterr()
    assert main(["evaluate", str(run), "--ten-crop"]) == 0
    out = capsys.readouterr().out
    assert "test centre crop: top-1" in out and "test 10 crops" in out
    image = tmp_path / "seven.png"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(image)
    assert main(["predict", str(run), str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("the tiny model") and lines[1] == f"{image}:" and len(lines) == 7
    probabilities = [float(line.split("%")[0]) for line in lines[2:]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 100.01


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--augment", "rotate"], "unknown augmentation"),
    (["--data", "/nonexistent/cifar"], "/nonexistent/cifar"),
    (["--device", "tpu"], "unknown device"),
])
def test_bad_flags_exit_2_with_a_sentence(tmp_path, capsys, flags, message):
    assert main(["train", *QUICK, "--out", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_gpu_without_cupy_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert main(["train", *QUICK, "--out", str(tmp_path / "run"), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "scratchnet[gpu]"' in err and "Traceback" not in err


def test_help_explains_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--dataset", "--data", "--epochs", "--batch-size", "--lr", "--device", "--towers",
                 "--seed", "--out", "--resume", "--augment", "--ten-crop"):
        assert flag in text
    assert "(default: 128)" in text and "(default: cpu)" in text
