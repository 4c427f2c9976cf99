"""The benchmark: ScratchNet's AlexNet raced against the same network in PyTorch.

    from scratchnet.tools.bench import run_benchmark, format_report, write_json
    result = run_benchmark([("paper", 32)], repeats=5)
    print(format_report(result)); write_json(result, "bench.json")

``scratchnet bench`` and ``benchmarks/bench.py`` drive it from the command
line (see benchmarks/README.md for how to read the figures). One idea per
file: ``runner`` (the race), ``contenders`` (a step of each framework),
``torch_alexnet`` (PyTorch's AlexNet), ``timing``, ``gemm`` (the machine's
GEMM peak), ``memory`` (peak RSS in a fresh process), ``report``.
torch is imported only inside the functions that need it.
"""

from .options import add_arguments, plan_from_args, run_from_args
from .report import format_report, write_json
from .runner import DEFAULT_PLAN, QUICK_PLAN, run_benchmark

__all__ = ["run_benchmark", "format_report", "write_json", "add_arguments", "plan_from_args", "run_from_args",
           "DEFAULT_PLAN", "QUICK_PLAN"]
