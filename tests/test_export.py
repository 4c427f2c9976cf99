"""``scratchnet export``: a run's weights as a float16 file that evaluate and predict read, and resume refuses."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
from PIL import Image
from test_train import quick_settings

from scratchnet.checkpoint import load_checkpoint, save_checkpoint
from scratchnet.cli import main
from scratchnet.commands.evaluate import load_trained
from scratchnet.layers import softmax
from scratchnet.pipeline import build_pipeline
from scratchnet.train import TrainSettings, train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("export") / "run"
    train(quick_settings(run, epochs=2), print_fn=lambda *a: None)
    return run


def test_the_export_is_float16_without_momentum_and_its_sha256_is_printed(trained_run, tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["export", str(trained_run), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}" in printed
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert not any(name.startswith("velocity/") for name in names)
    with np.load(out) as archive:
        weights = {name: archive[name] for name in archive.files if name.startswith("model/")}
    with np.load(trained_run / "checkpoint.npz") as archive:
        trained = {name: archive[name] for name in archive.files if name.startswith("model/")}
    assert sorted(weights) == sorted(trained) and all(w.dtype == np.float16 for w in weights.values())
    assert sum(w.nbytes for w in weights.values()) * 2 == sum(w.nbytes for w in trained.values())
    assert all(w.dtype == np.float32 for w in load_checkpoint(out)["model"].values())  # read back as float32


def test_the_exported_network_answers_as_the_checkpoint_does(trained_run, tmp_path):
    out = tmp_path / "net.npz"
    assert main(["export", str(trained_run), str(out)]) == 0
    original, transforms, checkpoint = load_trained(trained_run, "cpu")
    exported, _, _ = load_trained(out, "cpu")
    pipeline = build_pipeline(TrainSettings.from_dict(checkpoint["meta"]["settings"]), original.config,
                              print_fn=lambda *a: None, stats=transforms.stats)
    batch = transforms.eval(pipeline.test_images[:200])
    p_original = softmax(original.forward(batch, train=False))
    p_exported = softmax(exported.forward(batch, train=False))
    assert np.abs(p_original - p_exported).max() < 5e-3
    assert np.mean(p_original.argmax(1) == p_exported.argmax(1)) >= 0.99


def test_the_export_names_no_folder_of_the_machine_that_trained_it(trained_run, tmp_path, capsys):
    checkpoint = load_checkpoint(trained_run / "checkpoint.npz")
    data = str(tmp_path / "home" / "someone" / "cifar10-jpeg.tar.xz")
    meta = {**checkpoint["meta"], "dataset": f"cifar10 from {data}: 45,000 training",
            "settings": {**checkpoint["meta"]["settings"], "data": data}}
    (tmp_path / "run").mkdir()
    run = save_checkpoint(tmp_path / "run" / "checkpoint.npz", model_state=checkpoint["model"], meta=meta,
                          extra=checkpoint["extra"])
    out = tmp_path / "net.npz"
    assert main(["export", str(run), str(out)]) == 0
    exported = load_checkpoint(out)["meta"]
    assert exported["dataset"] == "cifar10 from cifar10-jpeg.tar.xz: 45,000 training"
    assert exported["settings"]["data"] == "cifar10-jpeg.tar.xz" and exported["settings"]["out"] == "run"
    assert str(tmp_path) not in repr(exported) and str(trained_run.parent) not in repr(exported)
    drawing = tmp_path / "seven.png"
    Image.fromarray(np.full((64, 48, 3), 255, np.uint8)).save(drawing)
    capsys.readouterr()
    assert main(["predict", str(out), str(drawing)]) == 0
    assert "trained on cifar10 from cifar10-jpeg.tar.xz" in capsys.readouterr().out
    for command in (["evaluate", str(out)], ["inspect", str(out), "--out", str(tmp_path / "inside")]):
        assert main(command) == 2                               # the data is not there: --data says where
        assert "cifar10-jpeg.tar.xz, which is not at that path here: give the path of a copy with --data" \
            in capsys.readouterr().err


def test_predict_and_evaluate_read_the_export(trained_run, tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["export", str(trained_run), str(out)]) == 0
    drawing = tmp_path / "seven.png"
    Image.fromarray(np.full((64, 48, 3), 255, np.uint8)).save(drawing)
    capsys.readouterr()
    assert main(["predict", str(out), str(drawing)]) == 0
    assert "seven.png:" in capsys.readouterr().out
    assert main(["evaluate", str(out)]) == 0
    assert "test centre crop: top-1" in capsys.readouterr().out


def test_an_export_cannot_be_resumed_and_says_what_to_resume(trained_run, tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["export", str(trained_run), str(out)]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "3"]) == 2
    error = capsys.readouterr().err
    assert "is an exported network" in error and "resume the run folder it was exported from" in error


@pytest.mark.parametrize("target, message", [
    ("net.txt", "give a file name ending in .npz"),
    ("exists.npz", "exists; choose another name, or add --overwrite"),
    ("RUN", "is the checkpoint being exported"),
])
def test_export_refuses_a_bad_target_and_changes_nothing(trained_run, tmp_path, capsys, target, message):
    (tmp_path / "exists.npz").write_bytes(b"keep me")
    out = trained_run / "checkpoint.npz" if target == "RUN" else tmp_path / target
    before = (trained_run / "checkpoint.npz").read_bytes()
    arguments = ["export", str(trained_run), str(out)] + (["--overwrite"] if target == "RUN" else [])
    assert main(arguments) == 2
    assert message in capsys.readouterr().err
    assert (trained_run / "checkpoint.npz").read_bytes() == before
    assert (tmp_path / "exists.npz").read_bytes() == b"keep me"


def test_a_weight_beyond_float16_is_refused_and_nothing_is_written(trained_run, tmp_path, capsys):
    checkpoint = load_checkpoint(trained_run)
    name = sorted(checkpoint["model"])[0]
    checkpoint["model"][name] = checkpoint["model"][name] + 1e6  # past float16's 65504
    diverged = save_checkpoint(tmp_path / "diverged.npz", model_state=checkpoint["model"], meta=checkpoint["meta"],
                               extra=checkpoint["extra"])
    assert main(["export", str(diverged), str(tmp_path / "net.npz")]) == 2
    error = capsys.readouterr().err
    assert "float16 cannot represent" in error and name in error
    assert not (tmp_path / "net.npz").exists()
