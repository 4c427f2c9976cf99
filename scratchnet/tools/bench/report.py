"""The benchmark's result as text tables, and as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ...files import finite_or_none

LABELS = {"scratchnet": "ScratchNet", "torch": "PyTorch"}


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned, the rest right-aligned."""
    table = [header] + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row):
        return "  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    return [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def _num(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _spread(s: dict, digits: int = 1) -> str:
    return f"{_num(s['median'], digits)} [{_num(s['min'], digits)}-{_num(s['max'], digits)}]"


def _rate(s: dict) -> str:
    """images/s as median [min-max] and the spread max/min: how far one repetition strays from another."""
    spread = s["max"] / s["min"] if s["min"] else float("nan")
    return f"{_spread(s)} ({_num(spread, 2)})"


def _throughput_rows(run: dict) -> list[list[str]]:
    rows = []
    for kind, title in (("train", "training step"), ("infer", "inference")):
        result = run.get(kind)
        if result is None:
            continue
        ours, theirs = result["scratchnet"], result["torch"]
        row = [title, _rate(ours["images_per_s"])]
        if theirs is not None:
            paired = result["paired_ratio"]
            row += [_rate(theirs["images_per_s"]),
                    f"{result['ratio']:.2f}x [{paired['min']:.2f}-{paired['max']:.2f}]"]
        row += [f"{ours['gflops']:.1f} ({ours['fraction_of_peak']:.0%})"]
        if theirs is not None:
            row += [f"{theirs['gflops']:.1f} ({theirs['fraction_of_peak']:.0%})"]
        rows.append(row)
    return rows


def format_run(run: dict, result: dict) -> list[str]:
    with_torch = run["train"]["torch"] is not None
    settings = result["settings"]
    lines = [f"== {run['model']}, batch {run['batch']}, {run['towers']} tower(s), "
             f"ScratchNet's {run.get('engine', 'fast')} engine, input "
             f"{'x'.join(map(str, run['input']))}: {run['train_flops_per_image'] / 1e9:.2f} GFLOP per image per "
             f"training step, {run['infer_flops_per_image'] / 1e9:.2f} per inference; "
             f"{settings['repeats']} repetition(s), load average {run['load_average']['start']} -> "
             f"{run['load_average']['end']}", ""]
    header = ["images/s, median [min-max] (max/min)", "ScratchNet"]
    if with_torch:
        header += ["PyTorch", "PyTorch/ScratchNet [paired min-max]"]
    header += ["ScratchNet GFLOP/s (% of peak)"] + (["PyTorch GFLOP/s (% of peak)"] if with_torch else [])
    lines += _table(header, _throughput_rows(run))
    if run.get("check"):
        lines.append(f"(same weights: logits agree to {run['check']['max_abs_logit_diff']:.1e}, "
                     f"relative {run['check']['relative']:.1e})")
    lines += _layer_lines(run.get("layers"), with_torch)
    lines += _memory_lines(run.get("memory"))
    return lines


def _layer_lines(layers: dict | None, with_torch: bool) -> list[str]:
    """The per-layer table of a run, or nothing when it was not profiled."""
    if not layers:
        return []
    lines = ["", f"per layer, training step (forward + backward), ms, median of {layers['repeats']} profiled "
                 f"step(s), ScratchNet's towers one after the other; ScratchNet step "
                 f"{_num(layers['step_ms']['scratchnet'])} ms"
                 + (f", PyTorch step {_num(layers['step_ms']['torch'])} ms" if with_torch else "")]
    header = ["layer", "SN fwd", "SN bwd", "SN total", "SN share"]
    if with_torch:
        header += ["PT fwd", "PT bwd", "PT total", "SN - PT", "SN / PT"]
    step = layers["step_ms"]["scratchnet"] or 1.0
    rows = []
    for row in layers["rows"]:
        ours, theirs = row["scratchnet"], row["torch"]
        cells = [row["layer"]]
        if ours is None:
            cells += ["", "", "-", ""]
        else:
            cells += [_num(ours["forward_ms"]) if ours["forward_ms"] else "",
                      _num(ours["backward_ms"]) if ours["backward_ms"] else "",
                      _num(ours["total_ms"]), f"{ours['total_ms'] / step:.0%}"]
        if with_torch:
            if theirs is None:
                cells += ["", "", "-"]
            else:
                cells += [_num(theirs["forward_ms"]) if theirs["forward_ms"] else "",
                          _num(theirs["backward_ms"]) if theirs["backward_ms"] else "",
                          _num(theirs["total_ms"])]
            cells += [_num(row["gap_ms"]), f"{row['ratio']:.1f}x" if row["ratio"] else "-"]
        rows.append(cells)
    lines += _table(header, rows)
    if with_torch:
        worst = sorted((r for r in layers["rows"] if r["gap_ms"] is not None), key=lambda r: -r["gap_ms"])[:3]
        lines.append("largest gaps: " + ", ".join(f"{r['layer']} (+{_num(r['gap_ms'])} ms)" for r in worst))
    return lines


def _memory_lines(mem: dict | None) -> list[str]:
    """The memory table of a run, or nothing when memory was not measured."""
    if not mem:
        return []
    lines = ["", "memory, MB of resident set (a fresh process per framework; setup = libraries, model, "
                 "optimiser, batch; step 2 = a steady step after one warm-up step)"]
    header = ["framework", "after setup", "process peak", "peak - setup", "before step 2", "step 2 peak",
              "step 2 extra"]
    rows = []
    for name, m in mem.items():
        if "error" in m:
            rows.append([LABELS[name], m["error"], "", "", "", "", ""])
            continue
        rows.append([LABELS[name], _num(m["setup_rss_mb"], 0), _num(m["process_peak_mb"], 0),
                     _num(m["peak_over_setup_mb"], 0), _num(m["before_step_rss_mb"], 0),
                     _num(m["step_peak_rss_mb"], 0), _num(m["step_extra_mb"], 0)])
    lines += _table(header, rows)
    return lines


def format_report(result: dict) -> str:
    machine, settings = result["machine"], result["settings"]
    threads = machine["threads"]
    peak = result["gemm_peak"]
    lines = [
        f"ScratchNet benchmark: {machine['cpu_model']}, {machine['logical_cpus']} logical CPU(s) "
        f"({machine['usable_cpus']} usable); Python {machine['python']}, NumPy {machine['numpy']}, "
        f"Numba {machine['numba']}, PyTorch "
        f"{machine['torch'] or ('not raced (--vs none)' if settings['vs'] == 'none' and not result.get('notes') else 'absent')}",
        f"threads: BLAS {threads['blas']} ({threads['blas_from']}), PyTorch {threads['torch'] or '-'}, "
        f"Numba {threads['numba'] or 'off'}; Numba kernels {'on' if settings['numba'] else 'OFF (SCRATCHNET_NUMBA=0)'}",
        f"float32 GEMM peak: NumPy {peak['numpy']['gflops']:.1f} GFLOP/s (n={peak['numpy']['size']})"
        + (f", torch.mm {peak['torch']['gflops']:.1f} GFLOP/s" if peak.get("torch") else "")
        + f"; load average {result['load_average']['start']} -> {result['load_average']['end']}"
        + (f", 1-min load during the run {_spread(result['load_average']['during_1min'], 2)} (median [min-max])"
           if result["load_average"].get("during_1min") else ""),
        f"FLOPs: {settings['flop_convention']}.",
    ]
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    for run in result["runs"]:
        lines += [""] + format_run(run, result)
    lines += ["", f"wall time {result['wall_seconds']:.0f} s"]
    return "\n".join(lines)


def write_json(result: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(finite_or_none(result), indent=2, allow_nan=False) + "\n")
    return path
