"""Data parallelism: communicators, per-sample dropout, and K workers training exactly like one.

The MPI tests start real processes with the environment's ``mpiexec`` (the
``mpi`` extra: mpi4py and the MPICH wheel) and are skipped, with the
reason, where mpi4py or mpiexec is missing. The rest need no MPI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from thread_ranks import left_waiting, run_in_threads

from scratchnet import distributed
from scratchnet.backend import Device, DeviceError
from scratchnet.checkpoint import load_checkpoint
from scratchnet.cli import main
from scratchnet.distributed import Communicator, NCCLCommunicator, SingleProcess, find_mpiexec, for_device
from scratchnet.layers import SoftmaxCrossEntropy
from scratchnet.layers.dropout import per_sample_keep
from scratchnet.models import alexnet
from scratchnet.train import Trainer, TrainSettings, train

MPIEXEC = find_mpiexec()
HAVE_MPI = MPIEXEC is not None and importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec: pip install -e \".[mpi]\"")

# The tiny model (dropout 0.5 in fc6 and fc7) on 400 of the bundled digits: 8 steps of 50 per epoch.
QUICK = ["--model", "tiny", "--dataset", "digits", "--limit-train", "400", "--val-size", "100",
         "--batch-size", "50", "--log-every", "2"]
# Replicas sum their gradients in another order than one process does: float32 rounding, no more.
TOLERANCE = 1e-5


def quick_settings(out, **changes) -> TrainSettings:
    values = dict(model="tiny", dataset="digits", limit_train=400, val_size=100, batch_size=50, log_every=2,
                  epochs=2, out=str(out))
    values.update(changes)
    return TrainSettings(**values)


def run_workers(args: list[str], workers: int = 2, timeout: float = 300) -> str:
    """``mpiexec -n K python -m scratchnet.cli ARGS``; returns its output, fails on a non-zero exit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [MPIEXEC, "-n", str(workers), sys.executable, "-m", "scratchnet.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_same_weights(a_dir, b_dir, atol=TOLERANCE) -> None:
    a, b = load_checkpoint(a_dir), load_checkpoint(b_dir)
    for part in ("model", "velocity"):
        assert set(a[part]) == set(b[part])
        for name in a[part]:
            np.testing.assert_allclose(b[part][name], a[part][name], rtol=0, atol=atol, err_msg=f"{part} {name}")


def log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]


# -- without MPI ------------------------------------------------------------------------------


def test_single_process_collectives_are_the_identity():
    comm = SingleProcess()
    assert (comm.rank, comm.size, comm.is_root, comm.shard(50)) == (0, 1, True, (0, 50))
    grads = {"W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}
    before = {k: v.copy() for k, v in grads.items()}
    comm.allreduce_mean(grads)
    for name in grads:
        np.testing.assert_array_equal(grads[name], before[name])
    np.testing.assert_array_equal(comm.allreduce_sum([1.5, 2]), [1.5, 2.0])
    assert comm.any(True) and not comm.any(False)
    assert comm.bcast({"a": 1}) == {"a": 1} and comm.allgather(3) == [3]


@pytest.mark.parametrize("n, k", [(50, 2), (51, 3), (7, 7), (128, 5)])
def test_shards_cover_the_batch_in_order(n, k):
    shards = [Communicator(rank, k).shard(n) for rank in range(k)]
    assert shards[0][0] == 0 and shards[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
    assert max(hi - lo for lo, hi in shards) - min(hi - lo for lo, hi in shards) <= 1


def test_per_sample_dropout_masks_do_not_depend_on_the_split():
    key, shape = (0, 17, 3), (12, 10)  # 10 units: not a multiple of Philox's 4 words
    whole = per_sample_keep(key, 0, shape, 0.5)
    for cuts in ([6], [5], [1, 4, 11]):
        edges = [0, *cuts, shape[0]]
        parts = [per_sample_keep(key, lo, (hi - lo, *shape[1:]), 0.5) for lo, hi in zip(edges, edges[1:])]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert not np.array_equal(per_sample_keep(key, 6, (6, 10), 0.5), whole[:6])  # the offset matters
    assert not np.array_equal(per_sample_keep((0, 18, 3), 0, shape, 0.5), whole)  # so does the step
    big = per_sample_keep(key, 0, (400, 500), 0.3)
    assert abs(big.mean() - 0.7) < 0.01


@pytest.mark.parametrize("cut", [4, 3])  # an even split, and shards of 3 and 5 (weights 6/8 and 10/8)
def test_two_replicas_on_half_batches_give_the_full_batch_gradient(cut):
    """Data parallelism in one process: shard, per-sample dropout, weighted mean == one replica on the batch."""
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((8, 3, 16, 16)), rng.integers(0, 5, 8)
    loss = SoftmaxCrossEntropy()

    def grads(model, lo, hi):
        model.reseed_dropout(5, sample_offset=lo)
        loss.forward(model.forward(x[lo:hi], train=True), labels[lo:hi])
        model.backward(loss.backward())
        return {name: g.copy() for name, g in model.grads().items()}

    full = grads(alexnet("tiny", dtype=np.float64), 0, 8)
    shards = [(0, cut), (cut, 8)]
    parts = [grads(alexnet("tiny", dtype=np.float64), lo, hi) for lo, hi in shards]
    for part, (lo, hi) in zip(parts, shards):  # what allreduce_mean does with weight n_k K / B
        SingleProcess().allreduce_mean(part, weight=(hi - lo) * 2 / 8)
    for name in full:
        np.testing.assert_allclose((parts[0][name] + parts[1][name]) / 2, full[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    assert any(np.any(g == 0) for name, g in full.items() if name.startswith("fc7"))  # dropout was on


def test_a_batch_that_does_not_split_among_the_workers_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"--batch-size 50 does not split evenly among 3 workers.*48 or 51"):
        Trainer(quick_settings(tmp_path / "run", workers=3), comm=Communicator(0, 3))
    # The launcher says it once, before starting any worker.
    assert main(["train", *QUICK, "--workers", "3", "--out", str(tmp_path / "run")]) == 2
    assert "does not split evenly among 3 workers" in capsys.readouterr().err


def test_another_worker_count_is_refused(tmp_path):
    run = tmp_path / "run"
    train(quick_settings(run, epochs=1))
    with pytest.raises(ValueError, match=r"written by a run on 1 worker\(s\) and this run has 2: resume it with "
                                         r"--workers 1 \(or mpiexec -n 1\)"):
        Trainer(quick_settings(run, epochs=2), resume=run, comm=Communicator(0, 2))
    with pytest.raises(ValueError, match=r"--workers 3, but this process is one of 2"):
        Trainer(quick_settings(tmp_path / "other", workers=3), comm=Communicator(0, 2))


def test_workers_without_mpi_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(distributed, "find_mpiexec", lambda: None)
    assert main(["train", *QUICK, "--workers", "2", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "mpiexec" in err and 'pip install "scratchnet[mpi]"' in err and "mpiexec -n 2 scratchnet train" in err


# -- with MPI: real processes ------------------------------------------------------------------


@needs_mpi
def test_mpi_collectives_match_numpy():
    script = Path(__file__).with_name("mpi_collectives.py")
    for workers in (2, 3):
        done = subprocess.run([MPIEXEC, "-n", str(workers), sys.executable, str(script)], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and f"OK on {workers} ranks" in done.stdout, done.stdout + done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One worker and two (mpiexec -n 2) on the same global batches and seed, 2 epochs."""
    root = tmp_path_factory.mktemp("data_parallel")
    train(quick_settings(root / "one"))
    output = run_workers(["train", *QUICK, "--epochs", "2", "--out", str(root / "two")])
    return root, output


@needs_mpi
def test_two_workers_end_with_the_weights_of_one(runs):
    root, output = runs
    assert_same_weights(root / "one", root / "two")
    initial = alexnet("tiny", seed=0, num_classes=10).state_dict()
    moved = max(float(np.abs(w - initial[k]).max()) for k, w in load_checkpoint(root / "one")["model"].items())
    assert moved > 1000 * TOLERANCE  # the runs trained: equal weights are not the initial ones
    one, two = log(root / "one"), log(root / "two")
    for a, b in zip(one, two):
        for key in ("train_loss", "train_top1", "val_loss", "val_top1", "val_top5"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    assert all(r["workers"] == 2 and r["comm_seconds_per_step"] > 0 for r in two)
    result_one = json.loads((root / "one" / "result.json").read_text())
    result_two = json.loads((root / "two" / "result.json").read_text())
    assert result_two["test_top1"] == pytest.approx(result_one["test_top1"], abs=1e-9)
    # Only rank 0 speaks: each line once.
    assert output.count("epoch 2/2: train loss") == 1 and output.count("test: top-1 accuracy") == 1
    assert "25 on each of 2 workers" in output and "ms/step communicating" in output


@needs_mpi
def test_workers_flag_and_resume_equal_the_uninterrupted_run(runs, tmp_path, capsys):
    root, _ = runs
    run = tmp_path / "run"
    # --workers 2 re-launches itself under mpiexec; its workers' output goes straight to the terminal.
    assert main(["train", *QUICK, "--epochs", "1", "--workers", "2", "--out", str(run)]) == 0
    assert load_checkpoint(run)["meta"]["settings"]["workers"] == 2
    # Another number of workers is refused, naming both ...
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    assert "written by a run on 2 worker(s) and this run has 1" in capsys.readouterr().err
    # ... the same number continues it to the weights of the run that never stopped.
    assert main(["train", "--resume", str(run), "--epochs", "2", "--workers", "2"]) == 0
    assert_same_weights(root / "two", run, atol=0)


# -- NCCL: a GPU ---------------------------------------------------------------------------------


@pytest.mark.gpu
def test_nccl_allreduce_on_one_gpu():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install \"scratchnet[gpu]\")",
                               exc_type=ImportError)
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs mpi4py to bootstrap NCCL: pip install -e \".[mpi]\"")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy found no usable CUDA GPU")
    except Exception:
        pytest.skip("CuPy found no usable CUDA GPU")
    from cupy.cuda import nccl

    if not getattr(nccl, "available", False):  # a plain cupy-cuda12x wheel: the module imports, NCCL is not there
        pytest.skip("this CuPy has no NCCL (cupy.cuda.nccl.available is False)")
    from scratchnet.distributed import MPICommunicator

    comm = NCCLCommunicator(Device("gpu", 0, cupy), MPICommunicator())
    grads = {"W": cupy.arange(6, dtype=cupy.float32).reshape(2, 3), "b": cupy.ones(3, dtype=cupy.float32)}
    comm.allreduce_mean(grads, weight=2.0)  # one rank: the mean is the array itself, times the weight
    np.testing.assert_array_equal(cupy.asnumpy(grads["W"]), 2 * np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(cupy.asnumpy(grads["b"]), np.full(3, 2, np.float32))
    assert comm.seconds > 0


# -- NCCL on stand-in GPUs, the workers as threads (tests/thread_ranks.py) -----------------------


@pytest.fixture
def standin_gpus(monkeypatch):
    """Two stand-in GPUs, whether code finds them through --device or through ``import cupy``."""
    import standin

    from scratchnet import backend

    standin.reset(device_count=2)
    monkeypatch.setattr(backend, "_load_cupy", standin.load)
    monkeypatch.setitem(sys.modules, "cupy", standin)
    monkeypatch.setitem(sys.modules, "cupy.cuda", standin.cuda)

    def use_nccl(kind: str) -> None:
        standin.use_nccl(kind)
        monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", standin.cuda.nccl)

    use_nccl("missing")
    yield use_nccl
    standin.reset()


def one_sentence(message: str) -> str:
    assert "\n" not in message and message.endswith(".") and not re.search(r"\.\s+[A-Z]", message), message
    return message


def placed(size: int, spec: str) -> tuple[list, list]:
    """for_device(spec) on ``size`` workers: (per worker, its outcome; the notes rank 0 printed)."""
    notes = []

    def work(comm):
        chosen, chosen_spec = for_device(comm, spec, print_fn=notes.append)
        return chosen is comm, chosen_spec

    return run_in_threads(size, work), notes


def assert_nobody_waits(outcomes) -> None:
    waiting = left_waiting(outcomes)
    assert not waiting, f"worker(s) {waiting} were left waiting in a collective; the others ended with {outcomes}"


@pytest.mark.parametrize("nccl, says", [("missing", "cupy.cuda.nccl.available is False"),
                                        ("failing", "NcclError: NCCL_ERROR_INVALID_USAGE")])
def test_nccl_that_cannot_start_falls_back_to_mpi_on_every_worker(standin_gpus, nccl, says):
    standin_gpus(nccl)
    outcomes, notes = placed(2, "gpu")
    assert_nobody_waits(outcomes)
    assert outcomes == [(True, "gpu:0"), (True, "gpu:1")]  # each keeps its own GPU, the gradients go over MPI
    assert len(notes) == 1 and says in notes[0] and "all-reducing over MPI" in notes[0]
    assert one_sentence(notes[0] + ".")


def test_rank_0_failing_to_make_the_nccl_id_reaches_every_worker(standin_gpus, monkeypatch):
    import standin

    standin_gpus("failing")

    def no_id():
        raise standin.NcclError("NCCL_ERROR_SYSTEM_ERROR: unhandled system error")

    monkeypatch.setattr(standin.cuda.nccl, "get_unique_id", staticmethod(no_id))
    outcomes = run_in_threads(2, lambda comm: NCCLCommunicator(Device("gpu", comm.rank, standin), comm))
    assert_nobody_waits(outcomes)
    assert all(isinstance(o, distributed.DistributedError) and "worker 0: no NCCL unique id" in str(o)
               for o in outcomes), outcomes


@pytest.mark.parametrize("spec", ["gpu:0", "gpu:1"])
def test_workers_that_would_share_a_gpu_are_refused(standin_gpus, spec):
    standin_gpus("failing")  # what NCCL says to two ranks on one GPU
    outcomes, _ = placed(2, spec)
    assert_nobody_waits(outcomes)
    assert all(isinstance(o, distributed.DistributedError) for o in outcomes), outcomes
    message = one_sentence(str(outcomes[0]))
    assert "workers 0 and 1 on the same GPU" in message and "--device gpu" in message and str(outcomes[1]) == message


def test_workers_that_see_different_gpus_under_one_id_are_not_refused(standin_gpus, monkeypatch):
    """gpu:0 on every worker is fine where CUDA_VISIBLE_DEVICES gives each worker a GPU of its own."""
    monkeypatch.setattr(distributed, "_gpu_identity", lambda device: f"GPU of {threading.current_thread().name}")
    outcomes, notes = placed(2, "gpu:0")
    assert outcomes == [(True, "gpu:0"), (True, "gpu:0")] and len(notes) == 1


def test_a_worker_without_a_gpu_of_its_own_stops_every_worker(standin_gpus):
    outcomes, _ = placed(3, "gpu")  # two GPUs, three workers on the node
    assert_nobody_waits(outcomes)
    assert all(isinstance(o, DeviceError) and str(o) == str(outcomes[0]) for o in outcomes), outcomes
    assert "--device gpu gives worker 2 gpu:2" in one_sentence(str(outcomes[0]))
