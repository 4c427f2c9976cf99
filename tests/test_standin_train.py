"""`scratchnet train --device gpu:0,1` end to end on the CuPy stand-in: the training loop is device-clean."""

from __future__ import annotations

import numpy as np
import pytest
import standin

from scratchnet import backend
from scratchnet.checkpoint import load_checkpoint
from scratchnet.cli import main
from scratchnet.train import Trainer, TrainSettings

QUICK = ["--model", "tiny", "--dataset", "digits", "--limit-train", "200", "--val-size", "50",
         "--batch-size", "50", "--epochs", "2"]


@pytest.fixture
def standin_gpus(monkeypatch):
    standin.reset(device_count=2)
    monkeypatch.setattr(backend, "_load_cupy", standin.load)
    yield standin
    standin.reset()


@pytest.mark.parametrize("device", ["gpu", "gpu:0,1"])
def test_training_loop_runs_on_devices_and_matches_the_host(tmp_path, capsys, standin_gpus, device):
    assert main(["train", *QUICK, "--out", str(tmp_path / "host")]) == 0
    standin_gpus.clear_log()
    assert main(["train", *QUICK, "--log-every", "4", "--device", device, "--out", str(tmp_path / "dev")]) == 0
    assert standin_gpus.refusals == []
    host, dev = load_checkpoint(tmp_path / "host"), load_checkpoint(tmp_path / "dev")
    # Reads back to the host: each epoch's checkpoint (parameters and velocities), the loss and accuracy
    # once per logging interval (4 steps = one epoch here, two reads), the validation totals once per
    # epoch and the test totals once: never once per step.
    reads = [t for t in standin_gpus.transfers if t.destination == "host"]
    checkpoint_reads = 2 * (len(dev["model"]) + len(dev["velocity"]))
    assert len(reads) - checkpoint_reads == 2 * (2 + 1) + 1
    for name, value in host["model"].items():
        np.testing.assert_allclose(dev["model"][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    capsys.readouterr()
    # Trained on the (stand-in) GPUs, evaluated on the CPU.
    assert main(["evaluate", str(tmp_path / "dev")]) == 0
    assert "top-1" in capsys.readouterr().out


def test_a_label_out_of_range_on_a_device_stops_the_run_at_the_next_log_read(tmp_path, standin_gpus):
    """The host raises at the step; a GPU would wrap the label around, so the device counts it, read with the loss."""
    settings = TrainSettings(model="tiny", dataset="digits", limit_train=200, val_size=50, batch_size=50, epochs=1,
                             log_every=4, device="gpu", out=str(tmp_path / "run"))
    trainer = Trainer(settings, print_fn=lambda *args, **kwargs: None)
    trainer.pipeline.train_loader.y[7] = 10  # ten classes: 0..9
    standin_gpus.clear_log()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\] for 10 classes, but 1 of the labels of "
                                         r"epoch 1, step \d lay outside") as error:
        trainer.run()
    assert "\n" not in str(error.value) and str(error.value).endswith(".")
    # Read once, at the end of the 4-step logging interval: the losses, then the counts (hits and bad labels).
    assert [t.via for t in standin_gpus.transfers if t.destination == "host"] == ["get", "get"]
