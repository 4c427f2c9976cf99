"""The benchmark's --quick path end to end: every JSON field present, every figure sane.

No timing targets (CI machines are shared and slow): only that throughputs
are positive and finite, that ratios, GFLOP/s and fractions are the
quotients they claim to be, that per-layer rows add up to the step, and that
PyTorch's AlexNet computes ScratchNet's function on the same weights.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys

import pytest

from scratchnet.cli import build_parser, main
from scratchnet.models import alexnet, summarize
from scratchnet.tools.bench import plan_from_args, runner
from scratchnet.tools.bench.timing import abba, stats

LAYERS = ["conv1", "act1", "lrn1", "pool1", "conv2", "act2", "lrn2", "pool2", "conv3", "act3", "conv4", "act4",
          "conv5", "act5", "pool5", "flatten", "fc6", "act6", "drop6", "fc7", "act7", "drop7", "fc8"]
EXCHANGES = ["exchange>conv3", "exchange>fc6", "exchange>fc7", "exchange>fc8"]
TAIL = ["loss", "sgd step", "(rest)"]


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _positive(value, what):
    assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, f"{what} = {value!r}"


def _close(a, b, what, rel=1e-9):
    assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), f"{what}: {a} != {b}"


def check_throughput(entry, batch, repeats, flops_per_image, peak, what):
    assert len(entry["seconds"]) == repeats, what
    for s in entry["seconds"]:
        _positive(s, f"{what} seconds")
    ips = entry["images_per_s"]
    assert set(ips) == {"median", "min", "max", "q1", "q3", "n"}, what
    assert ips["n"] == repeats
    for key in ("median", "min", "max", "q1", "q3"):
        _positive(ips[key], f"{what} images/s {key}")
    assert ips["min"] <= ips["q1"] <= ips["median"] <= ips["q3"] <= ips["max"], what
    _close(ips["median"], stats([batch / s for s in entry["seconds"]])["median"], f"{what} median")
    _close(entry["gflops"], flops_per_image * ips["median"] / 1e9, f"{what} GFLOP/s")
    _close(entry["fraction_of_peak"], entry["gflops"] / peak, f"{what} fraction of peak")


def check_result(result, *, with_torch: bool, threads: int, repeats: int = 1, batch: int = 8):
    assert result["schema"] == runner.SCHEMA
    for key in ("created", "wall_seconds", "machine", "load_average", "settings", "gemm_peak", "runs", "notes"):
        assert key in result, key
    machine = result["machine"]
    for key in ("cpu_model", "logical_cpus", "usable_cpus", "platform", "python", "numpy", "numba", "torch", "threads"):
        assert key in machine, key
    used = machine["threads"]
    assert used["blas"] == threads and used["blas_from"] and result["settings"]["threads"] == threads
    assert used["torch"] == threads if with_torch else used["torch"] is None
    assert used["numba"] in (threads, None)
    assert (machine["torch"] is not None) == with_torch
    settings = result["settings"]
    assert settings["vs"] == ("torch" if with_torch else "none")
    assert settings["repeats"] == repeats and "multiply-add" in settings["flop_convention"]
    assert settings["plan"] == [["cifar", batch]]
    peak = result["gemm_peak"]["numpy"]
    _positive(peak["gflops"], "GEMM peak")
    assert peak["gflops"] == max(r["gflops"] for r in peak["runs"])
    if with_torch:
        _positive(result["gemm_peak"]["torch"]["gflops"], "torch GEMM peak")
    else:
        assert result["gemm_peak"]["torch"] is None

    (run,) = result["runs"]
    assert (run["model"], run["batch"], run["towers"], run["input"]) == ("cifar", batch, 2, [3, 32, 32])
    rows = summarize(alexnet("cifar"))
    macs = sum(r["macs"] for r in rows)
    conv1 = sum(r["macs"] for r in rows if r["layer"].startswith("conv1"))
    assert run["forward_macs_per_image"] == macs
    assert run["train_flops_per_image"] == 2 * (3 * macs - conv1)
    assert run["train_flops_per_image_3x"] == 6 * macs and run["infer_flops_per_image"] == 2 * macs

    for kind, flops in (("train", run["train_flops_per_image"]), ("infer", run["infer_flops_per_image"])):
        entry = run[kind]
        check_throughput(entry["scratchnet"], batch, repeats, flops, peak["gflops"], f"{kind} ScratchNet")
        if not with_torch:
            assert entry["torch"] is None and entry["ratio"] is None and entry["paired_ratio"] is None
            continue
        check_throughput(entry["torch"], batch, repeats, flops, peak["gflops"], f"{kind} PyTorch")
        # ratio: how many times faster PyTorch is, from the medians; paired: per repetition, from the seconds.
        _close(entry["ratio"], entry["torch"]["images_per_s"]["median"] / entry["scratchnet"]["images_per_s"]["median"],
               f"{kind} ratio")
        paired = [a / b for a, b in zip(entry["scratchnet"]["seconds"], entry["torch"]["seconds"])]
        _close(entry["paired_ratio"]["median"], stats(paired)["median"], f"{kind} paired ratio")
        _positive(entry["ratio"], f"{kind} ratio")

    layers = run["layers"]
    assert layers["repeats"] == 1 and set(layers["method"]) == {"scratchnet", "torch"}
    names = [row["layer"] for row in layers["rows"]]
    assert [n for n in names if n not in EXCHANGES] == LAYERS + TAIL, names
    assert [n for n in names if n in EXCHANGES] == EXCHANGES
    for side in ("scratchnet", "torch") if with_torch else ("scratchnet",):
        step = layers["step_ms"][side]
        _positive(step, f"{side} profiled step")
        total = 0.0
        for row in layers["rows"]:
            entry = row[side]
            if entry is None:
                assert side == "torch" and row["layer"] in EXCHANGES, row
                continue
            for key in ("forward_ms", "backward_ms", "other_ms", "total_ms"):
                assert math.isfinite(entry[key]) and entry[key] >= 0, (row["layer"], key, entry[key])
            _close(entry["total_ms"], entry["forward_ms"] + entry["backward_ms"] + entry["other_ms"],
                   f"{side} {row['layer']} total", rel=1e-6)
            total += entry["total_ms"]
        # One profiled step: the rows, "(rest)" included, are the step.
        _close(total, step, f"{side} rows add up to the step", rel=1e-6)
        for name in ("conv1", "conv3", "fc6"):
            row = next(r for r in layers["rows"] if r["layer"] == name)[side]
            _positive(row["forward_ms"], f"{side} {name} forward")
            _positive(row["backward_ms"], f"{side} {name} backward")
    if with_torch:
        for row in layers["rows"]:
            if row["torch"] is not None and row["torch"]["total_ms"] > 0:
                _close(row["gap_ms"], row["scratchnet"]["total_ms"] - row["torch"]["total_ms"], "gap", rel=1e-6)
                _close(row["ratio"], row["scratchnet"]["total_ms"] / row["torch"]["total_ms"], "ratio", rel=1e-6)
        # The same weights give the same logits: the two models are one function.
        assert run["check"]["relative"] < 1e-4, run["check"]
    else:
        assert run["check"] is None and all(row["torch"] is None for row in layers["rows"])
    assert run["memory"] is None  # --quick runs no memory process
    for name, loss in run["last_loss"].items():
        assert math.isfinite(loss) and loss > 0, (name, loss)


def test_quick_scratchnet_only_when_torch_is_absent(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--threads", "1", "--json", str(path)]) == 0
    result = _strict_json(path)
    check_result(result, with_torch=False, threads=1)
    assert any("PyTorch is not importable" in note for note in result["notes"])
    out = capsys.readouterr().out
    assert "training step" in out and "ScratchNet" in out and "PyTorch/ScratchNet" not in out
    # Each rate prints its spread, max / min of the repetitions.
    low, high, spread = (float(v.replace(",", "")) for v in re.search(
        r"training step\s+[\d,.]+ \[([\d,.]+)-([\d,.]+)\] \(([\d.]+)\)", out).groups())
    assert_printed_ratio(spread, high, low)


def test_explicit_vs_torch_without_torch_is_an_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["bench", "--quick", "--vs", "torch"]) == 2
    assert "PyTorch does not import" in capsys.readouterr().err


def test_quick_against_torch(tmp_path, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's rival; install torch==2.13.0")
    path = tmp_path / "bench.json"
    # One thread: on a busy shared machine two-thread barriers in small ops cost more than the ops.
    assert main(["bench", "--quick", "--vs", "torch", "--threads", "1", "--json", str(path)]) == 0
    check_result(_strict_json(path), with_torch=True, threads=1)
    out = capsys.readouterr().out
    assert "PyTorch/ScratchNet" in out and "largest gaps" in out


def test_same_threads_by_default_and_restored():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with runner.same_threads(None, use_torch=True) as info:
        assert info["blas"] >= 1 and info["torch"] == info["blas"] == torch.get_num_threads()
    with runner.same_threads(1, use_torch=True) as info:
        assert info["blas"] == info["torch"] == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_plans():
    parser = build_parser()
    assert plan_from_args(parser.parse_args(["bench"])) == [("paper", 32), ("paper", 128), ("cifar", 128)]
    assert plan_from_args(parser.parse_args(["bench", "--quick"])) == [("cifar", 8)]
    assert plan_from_args(parser.parse_args(["bench", "--model", "paper", "--batch", "32"])) == [("paper", 32)]
    assert plan_from_args(parser.parse_args(["bench", "--model", "all", "--batch", "4", "16"])) == [
        ("paper", 4), ("paper", 16), ("cifar", 4), ("cifar", 16)]


def test_stats_and_order():
    s = stats([4.0, 1.0, 3.0, 2.0])
    assert (s["min"], s["q1"], s["median"], s["q3"], s["max"], s["n"]) == (1.0, 1.75, 2.5, 3.25, 4.0, 4)
    assert [abba(r, "a", "b") for r in range(3)] == [("a", "b"), ("b", "a"), ("a", "b")]
    assert [abba(r, "a", "b", "c") for r in range(2)] == [("a", "b", "c"), ("c", "b", "a")]
    assert abba(1, "a") == ("a",)


def test_memory_in_a_fresh_process():
    from scratchnet.tools.bench import memory

    result = memory.measure("scratchnet", "tiny", 2, threads=1)
    assert "error" not in result, result
    for key in ("setup_rss_mb", "first_step_peak_mb", "before_step_rss_mb", "step_peak_rss_mb", "after_step_rss_mb",
                "process_peak_mb", "peak_over_setup_mb"):
        assert math.isfinite(result[key]) and result[key] >= 0, (key, result[key])
    assert result["process_peak_mb"] >= result["setup_rss_mb"] > 0
    assert result["step_extra_mb"] is None or result["step_extra_mb"] >= 0


def test_library_never_imports_torch_at_import_time():
    code = ("import sys, scratchnet.tools.bench, scratchnet.tools.bench.torch_alexnet, scratchnet.commands.bench, "
            "scratchnet.cli; "
            "scratchnet.cli.build_parser(); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_benchmarks_script_runs_and_imports(repo_root):
    script = repo_root / "benchmarks" / "bench.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--vs" in done.stdout and "--quick" in done.stdout
    spec = importlib.util.spec_from_file_location("bench_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main) and callable(module.run_benchmark) and callable(module.format_report)


def assert_printed_ratio(ratio: float, top: float, bottom: float) -> None:
    """``ratio`` (printed to 0.01) is top / bottom (each printed to 0.1), within what the rounding allows."""
    low, high = (top - 0.05) / (bottom + 0.05), (top + 0.05) / max(bottom - 0.05, 1e-9)
    assert low - 0.005 <= ratio <= high + 0.005, (ratio, top, bottom)


def one_line_of_script(script) -> str:
    """What an A/B script prints for the cifar model at batch 4, 2 repetitions, 2 threads: one line."""
    done = subprocess.run([sys.executable, str(script), "--model", "cifar", "--batch", "4", "--repeats", "2",
                           "--threads", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line, = done.stdout.strip().splitlines()
    return line


def test_towers_script_times_the_three_layouts(repo_root):
    line = one_line_of_script(repo_root / "benchmarks" / "towers.py")
    found = re.findall(r"(?:other|side by side|half the threads) ([\d.]+) \[([\d.]+)-([\d.]+)\] \(spread ([\d.]+), ([\d.]+)x\)",
                       line)
    assert line.startswith("cifar batch 4") and len(found) == 3, line
    rates = [[float(value) for value in group] for group in found]
    serial = rates[0][0]
    for median, low, high, spread, ratio in rates:
        assert 0 < low <= median <= high
        assert_printed_ratio(spread, high, low)
        assert_printed_ratio(ratio, median, serial)


def test_sgd_script_times_both_optimisers(repo_root):
    line = one_line_of_script(repo_root / "benchmarks" / "sgd.py")
    update = [float(value) for value in re.findall(r"([\d.]+) \[[\d.]+-[\d.]+\] ms", line)]
    steps = [float(value) for value in re.findall(r"([\d.]+) \[[\d.]+-[\d.]+\](?: against| images/s)", line)]
    update_ratio, step_ratio = (float(value) for value in re.findall(r"\(([\d.]+)x\)", line))
    assert line.startswith("cifar batch 4") and len(update) == 2 and len(steps) == 2 and min(update + steps) > 0
    assert_printed_ratio(update_ratio, update[0], update[1])
    assert_printed_ratio(step_ratio, steps[1], steps[0])


def test_conv_paths_script_times_both_paths_of_each_3x3_layer(repo_root):
    line = one_line_of_script(repo_root / "benchmarks" / "conv_paths.py")
    layers = re.findall(r"(conv\d) \(\d+ -> \d+, 7 x 7\) Winograd ([\d.]+) / ([\d.]+) ms, im2col ([\d.]+) / ([\d.]+) ms "
                        r"\(([\d.]+)x\)", line)
    assert line.startswith("cifar batch 4") and [name for name, *_ in layers] == ["conv3", "conv4", "conv5"], line
    for _, *figures in layers:
        wino_fwd, wino_bwd, im2col_fwd, im2col_bwd, ratio = (float(value) for value in figures)
        assert min(wino_fwd, wino_bwd, im2col_fwd, im2col_bwd) > 0
        # Each sum is of two figures printed to 0.01 ms: off by up to 0.01 either way.
        im2col, wino = im2col_fwd + im2col_bwd, wino_fwd + wino_bwd
        assert (im2col - 0.01) / (wino + 0.01) - 0.005 <= ratio <= (im2col + 0.01) / max(wino - 0.01, 1e-9) + 0.005, line
