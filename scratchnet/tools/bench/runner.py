"""The race: ScratchNet against PyTorch, configuration by configuration, alternating.

For each (model, batch) of the plan, in one process:

1. build ScratchNet's AlexNet and PyTorch's (the same weights, copied), one batch;
2. warm up: ``warmup`` training steps of each, then one inference pass of each,
   whose logits are compared (``check``: the two models compute the same function);
3. ``repeats`` repetitions, each timing one training step of both frameworks
   and then one inference pass of both, in ABBA order (ScratchNet first on even
   repetitions, PyTorch first on odd ones), each after a ``settle`` pause (0.2 s)
   so that the other framework's idle BLAS/OpenMP threads, which spin for a
   while after their work, have gone to sleep;
4. ``layer_repeats`` profiled training steps of each, alternating, for the
   per-layer table (see ``contenders`` for how each side is timed);
5. peak memory of a training step, each framework in its own fresh process.

FLOP convention (stated in the JSON as ``flop_convention``): one multiply-add
is 2 FLOPs. A training step does the forward's multiply-adds three times
(forward, weight gradient, input gradient) except that conv1 computes no
input gradient (neither framework does: the images need none), so
``train_flops_per_image = 2 (3 M - M_conv1)``, M the forward's multiply-adds
from ``scratchnet summary``; for the paper's model that is 4.14 GFLOP per
image (``train_flops_per_image_3x``, the plain 3 M, is 4.35). Inference is
2 M. Element-wise layers (ReLU, LRN, pooling, dropout, the update) are not
counted: they are memory-bound, and a few percent of the FLOPs.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone

import numpy as np

from ...backend import numba_enabled
from . import gemm
from .contenders import ScratchNetContender, TorchContender, make_batch
from .timing import SETTLE_S, abba, settled_seconds, stats

SCHEMA = 1
DEFAULT_PLAN = (("paper", 32), ("paper", 128), ("cifar", 128))
QUICK_PLAN = (("cifar", 8),)
FLOP_CONVENTION = ("2 FLOPs per multiply-add; training step = forward + weight gradient + input gradient = "
                   "3 x forward multiply-adds minus conv1's input gradient (not computed); inference = "
                   "1 x forward; multiply-adds of Conv2D and Linear only (scratchnet summary)")


def torch_version() -> str | None:
    """torch's version if it imports, else None (a missing or broken install alike)."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - any failure to import means "no torch"
        return None
    return torch.__version__


def blas_threads() -> tuple[int, str]:
    """(threads NumPy's BLAS uses, how that was found). Call before torch is imported."""
    from threadpoolctl import threadpool_info

    pools = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    numpy_pools = [info for info in pools if "numpy" in info.get("filepath", "")]
    for info in numpy_pools or pools:
        return int(info["num_threads"]), f"threadpoolctl ({info.get('internal_api')} {info.get('version')})"
    return os.cpu_count() or 1, "os.cpu_count() (no BLAS pool found by threadpoolctl)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


class LoadSampler:
    """The 1-minute load average every ``every`` seconds in a daemon thread, for the report's "load during"."""

    def __init__(self, every: float = 5.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every):
        while True:
            load = load_average()
            if load:
                self.samples.append(load[0])
            if self._stop.wait(every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict | None:
        return stats(self.samples) if self.samples else None


def machine_info(threads: dict, torch_ver: str | None) -> dict:
    import numba

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "torch": torch_ver, "threads": threads}


def flops(model) -> dict:
    from ...layers import Conv2D
    from ...models import summarize

    rows = summarize(model)
    macs = sum(r["macs"] for r in rows)
    first_conv = next(name for name, layer in model.layers() if isinstance(layer, Conv2D)).split(".")[0]
    first = sum(r["macs"] for r in rows if r["layer"].split(".")[0] == first_conv)
    return {"forward_macs_per_image": macs, "train_flops_per_image": 2 * (3 * macs - first),
            "train_flops_per_image_3x": 6 * macs, "infer_flops_per_image": 2 * macs}


def _throughput(seconds: list[float], batch: int, flops_per_image: int, peak_gflops: float) -> dict:
    per_second = [batch / s for s in seconds]
    ips = stats(per_second)
    gflops = flops_per_image * ips["median"] / 1e9
    return {"seconds": seconds, "images_per_s": ips, "gflops": gflops, "fraction_of_peak": gflops / peak_gflops}


def _compare(timings: dict, batch: int, flops_per_image: int, peak: float) -> dict:
    sn = _throughput(timings["scratchnet"], batch, flops_per_image, peak)
    result = {"scratchnet": sn, "torch": None, "ratio": None, "paired_ratio": None}
    if timings.get("torch"):
        th = _throughput(timings["torch"], batch, flops_per_image, peak)
        result["torch"] = th
        # How many times faster PyTorch is: > 1 when it wins.
        result["ratio"] = th["images_per_s"]["median"] / sn["images_per_s"]["median"]
        result["paired_ratio"] = stats([a / b for a, b in zip(timings["scratchnet"], timings["torch"])])
    return result


def _median_rows(profiles: list[dict]) -> dict:
    """Per row and component, the median over the profiled steps; milliseconds."""
    names = []
    for profile in profiles:
        for name in profile["rows"]:
            if name not in names:
                names.append(name)
    rows = {}
    for name in names:
        entries = [p["rows"].get(name, {"forward": 0.0, "backward": 0.0}) for p in profiles]

        def median_ms(key):
            return 1e3 * stats([e.get(key, 0.0) for e in entries])["median"]

        rows[name] = {"forward_ms": median_ms("forward"), "backward_ms": median_ms("backward"),
                      "other_ms": median_ms("other"),
                      "total_ms": 1e3 * stats([sum(e.values()) for e in entries])["median"]}
    return {"step_ms": 1e3 * stats([p["step_seconds"] for p in profiles])["median"], "rows": rows}


def _layer_table(profiles: dict) -> dict:
    sn = _median_rows(profiles["scratchnet"])
    th = _median_rows(profiles["torch"]) if profiles.get("torch") else None
    tail = ["loss", "sgd step", "(rest)"]
    order = [n for n in sn["rows"] if n not in tail]
    if th:
        order += [n for n in th["rows"] if n not in order and n not in tail]
    rows = []
    for name in order + tail:
        ours = sn["rows"].get(name)
        theirs = th["rows"].get(name) if th else None
        if ours is None and theirs is None:
            continue
        row = {"layer": name, "scratchnet": ours, "torch": theirs, "gap_ms": None, "ratio": None}
        if th is not None:
            ours_ms = ours["total_ms"] if ours else 0.0
            theirs_ms = theirs["total_ms"] if theirs else 0.0
            row["gap_ms"] = ours_ms - theirs_ms
            row["ratio"] = ours_ms / theirs_ms if theirs_ms > 0 else None
        rows.append(row)
    return {"method": {"scratchnet": "in-step timers around every layer's forward and backward (both towers added)",
                       "torch": "in-step forward pre/post hooks; backward from gradient-ready tensor hooks "
                                "on each module's output (consecutive events)"},
            "repeats": len(profiles["scratchnet"]), "step_ms": {"scratchnet": sn["step_ms"],
                                                                 "torch": th["step_ms"] if th else None},
            "rows": rows}


def run_one(model_name: str, batch: int, *, repeats: int, warmup: int, layer_repeats: int, use_torch: bool,
            threads: int, peak_gflops: float, inference: bool, measure_memory: bool, towers: int | None,
            seed: int, settle: float, say, engine: str = "fast") -> dict:
    from ...models import alexnet

    options = {} if towers is None else {"towers": towers}
    sn_model = alexnet(model_name, seed=seed, engine=engine, **options)
    config = sn_model.config
    x, labels = make_batch(config, batch, seed)
    contenders = {"scratchnet": ScratchNetContender(config, x, labels, seed=seed, model=sn_model)}
    if use_torch:
        contenders["torch"] = TorchContender(config, x, labels, threads, seed=seed, weights_from=sn_model)
    names = list(contenders)
    counts = flops(sn_model)
    load_start = load_average()
    say(f"{model_name} batch {batch}: warming up ({warmup} training step(s) each)")

    # Inference first, on the freshly copied weights: the two models must agree.
    check = _same_logits({name: np.asarray(c.infer_step(), dtype=np.float64) for name, c in contenders.items()})
    for _ in range(warmup):
        for name in names:
            contenders[name].train_step()

    what = f"{model_name} batch {batch}"
    train, infer = _timed_repetitions(contenders, repeats, inference, settle, say, what)
    layers = None
    if layer_repeats > 0:
        profiles = {name: [] for name in names}
        for rep in range(layer_repeats):
            for name in abba(rep, *names):
                time.sleep(settle)
                profiles[name].append(contenders[name].profile_step())
        layers = _layer_table(profiles)
        say(f"{what}: per-layer profile done ({layer_repeats} step(s) each)")

    losses = {name: c.loss_value() for name, c in contenders.items()}
    del contenders, sn_model, x  # free before the memory children run

    mem = None
    if measure_memory:
        from . import memory  # not at the top: ``python -m scratchnet.tools.bench.memory`` must import it first

        mem = {}
        for name in names:
            say(f"{model_name} batch {batch}: peak memory of {name} in a fresh process")
            mem[name] = memory.measure(name, model_name, batch, threads, towers, engine=engine)

    result = {
        "model": model_name, "batch": batch, "towers": config.towers, "engine": engine,
        "input": [config.in_channels, config.input_size, config.input_size],
        **counts,
        "train": _compare(train, batch, counts["train_flops_per_image"], peak_gflops),
        "infer": _compare(infer, batch, counts["infer_flops_per_image"], peak_gflops) if inference else None,
        "layers": layers, "memory": mem, "check": check, "last_loss": losses,
        "load_average": {"start": load_start, "end": load_average()},
    }
    return result


def _same_logits(logits: dict) -> dict | None:
    """How closely ScratchNet's logits agree with PyTorch's on the same weights (None without PyTorch)."""
    if "torch" not in logits:
        return None
    scale = float(np.abs(logits["torch"]).max()) or 1.0
    difference = float(np.abs(logits["scratchnet"] - logits["torch"]).max())
    return {"max_abs_logit_diff": difference, "max_abs_logit": scale, "relative": difference / scale}


def _timed_repetitions(contenders: dict, repeats: int, inference: bool, settle: float, say, what: str):
    """Seconds of each contender's training steps (and inference passes), in ABBA order: (train, infer)."""
    names = list(contenders)
    train = {name: [] for name in names}
    infer = {name: [] for name in names}
    for rep in range(repeats):
        order = abba(rep, *names)
        for name in order:
            train[name].append(settled_seconds(contenders[name].train_step, settle))
        if inference:
            for name in order:
                infer[name].append(settled_seconds(contenders[name].infer_step, settle))
        say(f"{what}: repetition {rep + 1}/{repeats}: training step "
            + ", ".join(f"{contenders[n].label} {train[n][-1]:.3f} s" for n in names)
            + ("; inference " + ", ".join(f"{contenders[n].label} {infer[n][-1]:.3f} s" for n in names)
               if inference else ""))
    return train, infer


def run_benchmark(plan=DEFAULT_PLAN, *, repeats: int = 5, warmup: int = 2, layer_repeats: int = 3,
                  vs_torch: bool | None = None, inference: bool = True, measure_memory: bool = True,
                  gemm_sizes=gemm.SIZES, towers: int | None = None, seed: int = 0, settle: float = SETTLE_S,
                  threads: int | None = None, say=None, engine: str = "fast") -> dict:
    """Race ScratchNet against PyTorch on every (model, batch) of ``plan``; the JSON-ready result.

    ``vs_torch``: True requires torch (ValueError without it), False leaves it
    out, None (the default) includes it when it imports and notes when it does not.
    ``threads``: see ``same_threads``.
    """
    if say is None:
        def say(message):
            print(message, file=sys.stderr, flush=True)
    if repeats < 1 or warmup < 0 or layer_repeats < 0:
        raise ValueError(f"bench: need repeats >= 1, warmup >= 0, layer repeats >= 0; got {repeats}, {warmup}, "
                         f"{layer_repeats}")
    notes = []
    torch_ver = torch_version() if vs_torch is not False else None
    if vs_torch and torch_ver is None:
        raise ValueError("--vs torch: PyTorch does not import here; install it (pip install -e \".[oracle]\") "
                         "or use --vs none")
    use_torch = torch_ver is not None
    if vs_torch is None and not use_torch:
        notes.append("PyTorch is not importable: ScratchNet-only figures (pip install -e \".[oracle]\" to race it).")
    with same_threads(threads, use_torch) as thread_info:
        return _race(plan, repeats=repeats, warmup=warmup, layer_repeats=layer_repeats, use_torch=use_torch,
                     torch_ver=torch_ver, thread_info=thread_info, inference=inference, measure_memory=measure_memory,
                     gemm_sizes=gemm_sizes, towers=towers, seed=seed, settle=settle, notes=notes, say=say,
                     engine=engine)


@contextmanager
def same_threads(threads: int | None, use_torch: bool):
    """NumPy's BLAS, PyTorch and Numba on the same number of threads; restored on exit.

    ``threads`` None: NumPy's BLAS keeps its own count (read before torch
    loads its BLAS), and PyTorch gets it. A number: all three are set to it
    (NumPy's BLAS through threadpoolctl).
    """
    with ExitStack() as stack:
        if threads is None:
            threads, source = blas_threads()
        else:
            if threads < 1:
                raise ValueError(f"--threads must be at least 1, got {threads}")
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=threads, user_api="blas"))
            source = "--threads (threadpoolctl)"
        info = {"blas": threads, "blas_from": source, "torch": None, "numba": None}
        if use_torch:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, previous)
            info["torch"] = torch.get_num_threads()
        if numba_enabled():
            import numba

            if source.startswith("--threads"):
                previous_numba = numba.get_num_threads()
                numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
                stack.callback(numba.set_num_threads, previous_numba)
            info["numba"] = numba.get_num_threads()
        yield info


def _race(plan, *, repeats, warmup, layer_repeats, use_torch, torch_ver, thread_info, inference, measure_memory,
          gemm_sizes, towers, seed, settle, notes, say, engine) -> dict:
    threads = thread_info["blas"]
    started = time.time()
    load_start = load_average()
    with LoadSampler() as sampler:
        say(f"measuring the float32 GEMM peak (sizes {', '.join(map(str, gemm_sizes))})")
        peak_before = gemm.gemm_peak(gemm_sizes, with_torch=use_torch)
        runs = []
        for model_name, batch in plan:
            runs.append(run_one(model_name, batch, repeats=repeats, warmup=warmup, layer_repeats=layer_repeats,
                                use_torch=use_torch, threads=threads, peak_gflops=peak_before["numpy"]["gflops"],
                                inference=inference, measure_memory=measure_memory, towers=towers, seed=seed,
                                settle=settle, say=say, engine=engine))
        peak_after = gemm.gemm_peak(gemm_sizes, with_torch=use_torch)
    peak = gemm.merge_peaks(peak_before, peak_after)
    # GFLOP/s fractions against the best peak seen, before or after.
    for run in runs:
        for kind in ("train", "infer"):
            if run[kind] is None:
                continue
            for name in ("scratchnet", "torch"):
                if run[kind][name] is not None:
                    run[kind][name]["fraction_of_peak"] = run[kind][name]["gflops"] / peak["numpy"]["gflops"]
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.time() - started, 1),
        "machine": machine_info(thread_info, torch_ver),
        "load_average": {"start": load_start, "end": load_average(), "during_1min": sampler.summary()},
        "settings": {"plan": [list(p) for p in plan], "repeats": repeats, "warmup": warmup,
                     "layer_repeats": layer_repeats, "vs": "torch" if use_torch else "none",
                     "inference": inference, "memory": measure_memory, "towers": towers, "seed": seed,
                     "engine": engine,
                     "numba": numba_enabled(), "order": "ABBA: ScratchNet first on even repetitions",
                     "settle_seconds": settle, "threads": thread_info["blas"],
                     "flop_convention": FLOP_CONVENTION, "peak": "best of 5 float32 numpy.matmul per size, "
                     "largest over the sizes, before and after the runs"},
        "gemm_peak": peak,
        "runs": runs,
        "notes": notes,
    }
