"""The command line the A/B scripts in ``benchmarks/`` share: which models and batches, repetitions, threads."""

from __future__ import annotations

import argparse

from threadpoolctl import threadpool_limits

PLAN = (("cifar", 128), ("paper", 32), ("paper", 128))


def run_ab_script(argv, prog: str, doc: str, measure_line) -> int:
    """Parse ``argv``; print ``measure_line(model, batch, repeats)`` for each (model, batch) of the plan.

    OpenMP's idle threads sleep, as under ``scratchnet train`` (``cli.let_openmp_threads_sleep``): spinning,
    they change what the variants' times mean.
    """
    from ...cli import let_openmp_threads_sleep

    let_openmp_threads_sleep()
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=["cifar", "paper"], default=None, help="one model (default: both)")
    parser.add_argument("--batch", type=int, default=None, help="one batch size (default: cifar 128, paper 32 and 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each variant")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as NumPy's BLAS has them)")
    args = parser.parse_args(argv)
    plan = [(m, b) for m, b in PLAN if args.model in (None, m)]
    if args.batch is not None:
        plan = sorted({(m, args.batch) for m, _ in plan})
    with threadpool_limits(args.threads, user_api="blas"):
        for model_name, batch in plan:
            print(measure_line(model_name, batch, args.repeats), flush=True)
    return 0
