"""Peak memory of a training step, each framework and configuration in a fresh process.

tracemalloc sees neither NumPy's nor BLAS's nor PyTorch's buffers, so the
figures come from the kernel: the resident set (``VmRSS``) and its
high-water mark (``VmHWM``) in /proc/self/status. A child process, started
once per framework and configuration (so peaks never mix, and the other
framework is never imported):

1. imports its framework, builds the model, the optimiser and the batch:
   ``setup_rss_mb`` (weights, and PyTorch's or Numba's libraries: ScratchNet
   first runs one step of the tiny model, so that Numba and its compiled
   kernels are loaded here and not counted as the step's);
2. runs one training step (first-call costs: Numba loading its compiled
   kernels, gradients, momentum and scratch buffers allocated):
   ``first_step_peak_mb``, the high-water mark so far;
3. resets the high-water mark to the current RSS (``echo 5 >
   /proc/self/clear_refs``, Linux >= 4.0), notes ``before_step_rss_mb``, runs a
   second step and reads the mark again: ``step_peak_rss_mb``, and
   ``step_extra_mb`` = the peak minus the RSS before that step: what a
   steady training step needs on top of what stays resident (activations,
   saved tensors, temporaries); ``peak_over_setup_mb`` = the process's peak
   minus ``setup_rss_mb``: everything training adds to the weights and the
   libraries (gradients, momentum, activations, scratch buffers, whatever the
   allocators keep), the figure to compare between frameworks.

Where clear_refs cannot be written, step 3 falls back to the process's
``ru_maxrss`` and says so in ``method``. Run as
``python -m scratchnet.tools.bench.memory FRAMEWORK MODEL BATCH [--threads N] [--towers T] [--engine E]``;
it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

MARKER = "BENCH-MEMORY "


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")


def _hwm_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024
    return kb / 1024


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def measure_in_this_process(framework: str, model: str, batch: int, threads: int, towers: int | None = None,
                            engine: str = "fast") -> dict:
    """The child's work (see the module docstring). Imports only ``framework``."""
    from .runner import same_threads

    limits = same_threads(threads, use_torch=framework == "torch")
    limits.__enter__()
    from ...models import make_config
    from .contenders import ScratchNetContender, TorchContender, make_batch

    options = {} if towers is None else {"towers": towers}
    config = make_config(model, **options)
    x, labels = make_batch(config, batch)
    if framework == "scratchnet":
        # Load Numba and its compiled kernels now, with a training step of the tiny
        # model, so that its runtime counts in the setup as PyTorch's libraries do.
        tiny = make_config("tiny")
        ScratchNetContender(tiny, *make_batch(tiny, 2)).train_step()
        contender = ScratchNetContender(config, x, labels, engine=engine)
    elif framework == "torch":
        contender = TorchContender(config, x, labels, threads)
    else:
        raise ValueError(f"unknown framework {framework!r}")
    setup = _rss_mb()
    contender.train_step()
    first_peak = _hwm_mb()
    reset = _reset_hwm()
    before = _rss_mb()
    contender.train_step()
    peak = _hwm_mb()
    after = _rss_mb()
    return {
        "framework": framework, "model": model, "batch": batch,
        "setup_rss_mb": setup, "first_step_peak_mb": first_peak, "before_step_rss_mb": before,
        "step_peak_rss_mb": peak, "step_extra_mb": peak - before if reset else None,
        "peak_over_setup_mb": max(first_peak, peak) - setup,
        "after_step_rss_mb": after, "process_peak_mb": max(first_peak, peak),
        "method": "VmRSS/VmHWM, high-water mark reset by /proc/self/clear_refs before the measured step" if reset
                  else "VmRSS and ru_maxrss (clear_refs not writable: step_extra_mb unavailable)",
        "loss": contender.loss_value(),
    }


def measure(framework: str, model: str, batch: int, threads: int, towers: int | None = None,
            timeout: float = 900, engine: str = "fast") -> dict:
    """Run ``measure_in_this_process`` in a fresh Python process; its dict, or {"error": ...}."""
    command = [sys.executable, "-m", "scratchnet.tools.bench.memory", framework, model, str(batch), "--threads", str(threads)]
    if towers is not None:
        command += ["--towers", str(towers)]
    command += ["--engine", engine]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return {"framework": framework, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"framework": framework, "error": f"exit code {done.returncode}: {' | '.join(tail)}"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scratchnet.tools.bench.memory",
                                     description="Peak memory of one training step in this (fresh) process.")
    parser.add_argument("framework", choices=("scratchnet", "torch"))
    parser.add_argument("model")
    parser.add_argument("batch", type=int)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--towers", type=int, choices=(1, 2), default=None)
    parser.add_argument("--engine", choices=("fast", "reference"), default="fast")
    args = parser.parse_args(argv)
    result = measure_in_this_process(args.framework, args.model, args.batch, args.threads, args.towers, args.engine)
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
