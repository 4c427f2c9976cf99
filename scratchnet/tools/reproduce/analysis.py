"""From the runs of an experiment to its numbers and a verdict on the paper's claim.

The verdict rule (``verdict``), stated in every table:

- paired differences d_s (seed s of one variant minus seed s of the other,
  signed so that d_s > 0 is what the paper claims);
- **held**: every d_s > 0 and their mean exceeds the seed-to-seed spread
  (max - min over seeds) of both variants, so the effect is larger than the
  noise that changing the seed alone makes;
- **reversed**: the same with every d_s < 0;
- **not resolved**: anything else (the difference is within seed noise);
- with one seed there is no measure of noise: the verdict only says which
  way the difference points ("agrees/disagrees, 1 seed").

``direction`` is the rule for claims about a factor or about two tests of
the same checkpoint (ReLU vs tanh speed, dropout's extra iterations, ten
crops vs one view): there seed-to-seed spread of the two sides is not the
noise of their difference, so the verdict is **held** when every seed's
difference has the claimed sign, **reversed** when every one has the other,
**not resolved** otherwise; the size is printed beside the paper's.
"""

from __future__ import annotations

import math
import statistics

VERDICT_RULE = (
    "for a comparison of two networks, **held** when every seed's difference favours the paper's claim and "
    "the mean difference exceeds the seed-to-seed spread (max - min) of both variants; **reversed** for the "
    "same the other way; **not resolved** otherwise (the difference is within seed noise). For a factor (ReLU "
    "vs tanh speed, dropout's extra iterations) or two tests of the same checkpoint (ten crops): **held** when "
    "every seed's difference has the claimed sign. With one seed noise is not measured and the verdict only "
    "says whether the difference agrees.")


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def spread(values: list[float]) -> float:
    return max(values) - min(values) if values else math.nan


def verdict(diffs: list[float], spreads: list[float] | None = None) -> str:
    """'held' | 'reversed' | 'not resolved' | 'agrees (1 seed)' | 'disagrees (1 seed)'; see the module doc."""
    if len(diffs) == 1:
        return "agrees (1 seed, noise not measured)" if diffs[0] > 0 else "disagrees (1 seed, noise not measured)"
    mean = statistics.fmean(diffs)
    noise = max(spreads) if spreads else 0.0
    if all(d > 0 for d in diffs) and mean > noise:
        return "held"
    if all(d < 0 for d in diffs) and -mean > noise:
        return "reversed"
    return "not resolved"


def direction(diffs: list[float]) -> str:
    """'held' | 'reversed' | 'not resolved' by sign alone (one seed: 'agrees/disagrees'); see the module doc."""
    if not diffs:
        return "not resolved"
    if len(diffs) == 1:
        return verdict(diffs)
    if all(d > 0 for d in diffs):
        return "held"
    if all(d < 0 for d in diffs):
        return "reversed"
    return "not resolved"


def first_crossing(windows: list[dict], level: float) -> dict | None:
    """The first training window whose error is at or below ``level`` (its epoch and training seconds)."""
    for window in windows:
        if window["train_error"] <= level:
            return window
    return None


def _by_variant(experiment, runs):
    """{variant key: [record per seed, in seed order]}."""
    table = {variant.key: [] for variant in experiment.variants}
    for run in sorted(runs, key=lambda r: r["seed"]):
        table[run["variant"]].append(run["record"])
    return table


def _metric(key, label, unit, values_by_variant, seeds, digits=2) -> dict:
    summary = {}
    for variant, values in values_by_variant.items():
        mean, std = mean_std(values)
        summary[variant] = {"mean": mean, "std": std, "spread": spread([v for v in values if v is not None])}
    return {"key": key, "label": label, "unit": unit, "digits": digits, "seeds": seeds,
            "values": values_by_variant, "summary": summary}


def _pm(mean, std, digits=2, unit="") -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}{unit}"


def test_error_percent(record) -> float:
    return 100.0 * (1.0 - record["test"]["test_top1"])


def analyse(experiment, runs: list[dict], seeds: list[int]) -> dict:
    """{"metrics": [...], "claims": [...], "plot": {...}} for ``runs`` ({variant, seed, record} each)."""
    kind = {"test_error": _test_error, "dropout": _dropout, "ten_crop": _ten_crop}
    return kind[experiment.kind](experiment, _by_variant(experiment, runs), seeds)


def _test_error(experiment, records, seeds) -> dict:
    errors = {key: [test_error_percent(r) for r in rs] for key, rs in records.items()}
    better, other = experiment.better, experiment.other
    diffs = [o - b for b, o in zip(errors[better.key], errors[other.key])]
    metric = _metric("test_error", "test top-1 error", "%", errors, seeds)
    gap = _metric("difference", f"{other.label} minus {better.label}", "points", {"difference": diffs}, seeds)
    mean, std = mean_std(diffs)
    held = verdict(diffs, [metric["summary"][k]["spread"] for k in errors])
    sentence = (f"{better.label}: {abs(mean):.2f} points {'lower' if mean > 0 else 'higher'} test top-1 error than "
                f"{other.label} (mean of {len(diffs)} seed(s); paper: {experiment.paper_number}): {held}.")
    claim = {"claim": f"{better.label} beats {other.label}", "paper": experiment.paper_number,
             "measured": f"error of {other.label} minus {better.label}: "
                         + (f"{mean:+.2f} ± {std:.2f} points" if len(diffs) > 1 else f"{mean:+.2f} points"),
             "value": mean, "paper_value": experiment.paper_value, "verdict": held, "sentence": sentence}
    return {"metrics": [metric, gap], "claims": [claim],
            "plot": {"ylabel": "test top-1 error (%)",
                     "groups": [(v.label, errors[v.key]) for v in experiment.variants]}}


def _dropout(experiment, records, seeds) -> dict:
    better, other = experiment.better, experiment.other
    test = {key: [test_error_percent(r) for r in rs] for key, rs in records.items()}
    train = {key: [100.0 * (1.0 - r["extras"]["train_eval"]["top1"]) for r in rs] for key, rs in records.items()}
    gap = {key: [t - tr for t, tr in zip(test[key], train[key])] for key in records}
    # A training error every run reaches: the highest final-epoch (running) training error among them.
    level = max(1.0 - r["history"][-1]["train_top1"] for rs in records.values() for r in rs)
    epochs = {}
    for key, rs in records.items():
        crossings = [first_crossing(r["windows"], level) for r in rs]
        epochs[key] = [c["epoch"] if c else math.nan for c in crossings]
    ratios = [d / n if n else math.nan for d, n in zip(epochs[better.key], epochs[other.key])]
    metrics = [_metric("test_error", "test top-1 error", "%", test, seeds),
               _metric("train_error", "training top-1 error (after training, no dropout, centre view)", "%", train,
                       seeds),
               _metric("gap", "overfitting: test minus training error", "points", gap, seeds),
               _metric("epochs_to_level", f"epochs to {level:.1%} running training error", "epochs", epochs, seeds),
               _metric("ratio", f"{better.label} / {other.label} (epochs to that level)", "x", {"ratio": ratios},
                       seeds)]
    gap_diffs = [o - b for b, o in zip(gap[better.key], gap[other.key])]
    gap_held = verdict(gap_diffs, [metrics[2]["summary"][k]["spread"] for k in gap])
    gmean, gstd = mean_std(gap_diffs)
    overfit = {"claim": "without dropout the net overfits more (larger test-train gap)",
               "paper": "substantial overfitting without dropout (no number given)",
               "measured": (f"gap {metrics[2]['summary'][other.key]['mean']:.2f} points without vs "
                            f"{metrics[2]['summary'][better.key]['mean']:.2f} with dropout "
                            f"(difference {_pm(gmean, gstd) if len(gap_diffs) > 1 else f'{gmean:+.2f}'})"),
               "value": gmean, "paper_value": None, "verdict": gap_held}
    overfit["sentence"] = f"Overfitting: {overfit['measured']}: {gap_held}."
    valid = [r for r in ratios if not math.isnan(r)]
    rmean, rstd = mean_std(valid)
    ratio_held = direction([r - 1.0 for r in valid]) if len(valid) == len(ratios) else "not resolved"
    slower = {"claim": "dropout needs more iterations to reach the same training error (paper: about 2x)",
              "paper": "roughly doubles the iterations to converge", "value": rmean if valid else None,
              "measured": f"{rmean:.2f}x the epochs" + (f" (± {rstd:.2f})" if len(valid) > 1 else "") if valid
              else "the level was not reached by every run",
              "paper_value": experiment.paper_value, "verdict": ratio_held}
    slower["sentence"] = (f"Iterations: with dropout the net took {slower['measured']} to reach {level:.1%} training "
                          f"error (paper: about 2x): {ratio_held} in direction.")
    return {"metrics": metrics, "claims": [overfit, slower], "level": level,
            "plot": {"ylabel": "top-1 error (%)",
                     "groups": [(f"{v.label}: {name}", values[v.key]) for v in experiment.variants
                                for name, values in (("train", train), ("test", test))],
                     "threshold": level}}


def _ten_crop(experiment, records, seeds) -> dict:
    rs = records[experiment.variants[0].key]
    tests = (("centre", "one view (the whole image)"), ("padded_ten_crop", "10 crops of the 4-pixel padded image"))
    errors = {label: [100.0 * (1.0 - r["extras"]["ten_crop"][name]["top1"]) for r in rs] for name, label in tests}
    centre, padded = (errors[label] for _, label in tests)
    metric = _metric("test_error", "test top-1 error, same checkpoint", "%", errors, seeds)
    claims = []
    for label, values in ((tests[1][1], padded),):
        diffs = [c - v for c, v in zip(centre, values)]
        mean, std = mean_std(diffs)
        held = direction(diffs)
        measured = f"{mean:+.2f} ± {std:.2f}" if len(diffs) > 1 else f"{mean:+.2f}"
        claims.append({"claim": f"{label} beat one view", "paper": experiment.paper_number,
                       "measured": f"error of one view minus {label}: {measured} points",
                       "value": mean, "paper_value": None, "verdict": held,
                       "sentence": f"{label}: {abs(mean):.2f} points {'lower' if mean > 0 else 'higher'} top-1 "
                                   f"error than one view: {held}."})
    return {"metrics": [metric], "claims": claims,
            "plot": {"ylabel": "test top-1 error (%)", "groups": [(label, errors[label]) for _, label in tests]}}
