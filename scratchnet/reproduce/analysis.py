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
    kind = {"test_error": _test_error, "threshold": _threshold, "dropout": _dropout, "ten_crop": _ten_crop}
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


# Training-error levels read off the curves besides the paper's threshold: where a short run cannot reach
# the paper's 25%, the claim is judged at the lowest level both networks reached, and said so.
LEVELS = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def _crossings(records, level):
    """{variant: [(epoch, seconds) of the first window at or below level, or None] per seed}."""
    out = {}
    for key, rs in records.items():
        out[key] = []
        for r in rs:
            c = first_crossing(r["windows"], level)
            out[key].append((c["epoch"], c["train_seconds"]) if c else None)
    return out


def _threshold(experiment, records, seeds) -> dict:
    paper_level = experiment.threshold
    better, other = experiment.better, experiment.other
    levels = sorted({paper_level, *LEVELS}, reverse=True)
    ends = {key: [(r["windows"][-1]["epoch"] if r["windows"] else 0.0, r["train_seconds"]) for r in rs]
            for key, rs in records.items()}
    metrics, by_level = [], {}
    for level in levels:
        cross = by_level[level] = _crossings(records, level)
        # Not reached: the run's length is a lower bound, marked by "reached" = False.
        epochs = {key: [c[0] if c else ends[key][i][0] for i, c in enumerate(cs)] for key, cs in cross.items()}
        metric = _metric(f"epochs_to_{level:.2f}", f"epochs to {level:.0%} training error", "epochs", epochs, seeds)
        metric["reached"] = {key: [c is not None for c in cs] for key, cs in cross.items()}
        metrics.append(metric)

    def all_reached(level, key):
        return all(c is not None for c in by_level[level][key])

    def usable(level):
        """Every seed has at least one of the two crossings (a missing one is bounded by its run's length)."""
        pairs = zip(by_level[level][better.key], by_level[level][other.key])
        return all(b is not None or o is not None for b, o in pairs)

    if usable(paper_level):
        level = paper_level
    else:
        both = [lv for lv in levels if all_reached(lv, better.key) and all_reached(lv, other.key)]
        level = both[-1] if both else None
    if level is None:
        named = ", ".join(f"{lv:.0%}" for lv in levels)
        measured = f"no level of {named} was reached by both in the epochs run"
        held, ratios, time_ratios = "not resolved", [], []
    else:
        cross = by_level[level]
        # A run that never got there counts with its length: the ratio is then a bound (>= or <=).
        lower, upper = not all_reached(level, other.key), not all_reached(level, better.key)
        ratios, time_ratios = [], []
        for i, (b, o) in enumerate(zip(cross[better.key], cross[other.key])):
            b, o = b or ends[better.key][i], o or ends[other.key][i]
            ratios.append(o[0] / b[0])
            time_ratios.append(o[1] / max(b[1], 1e-9))
        held = direction([r - 1.0 for r in ratios])
        mean, std = mean_std(ratios)
        prefix = ">= " if lower and not upper else "<= " if upper and not lower else ""
        measured = (f"to reach {level:.0%} training error {other.label} needed {prefix}{mean:.2f}x the epochs"
                    + (f" (± {std:.2f})" if len(ratios) > 1 else "")
                    + f" and {prefix}{statistics.fmean(time_ratios):.2f}x the training time of {better.label}")
        for missing, who in ((lower, other), (upper, better)):
            if missing:
                runs = max(e for e, _ in ends[who.key])
                measured += f" ({who.label} had not reached {level:.0%} after {runs:.0f} epochs, counted as {runs:.0f})"
        if level != paper_level:
            measured += (f"; neither reached the paper's {paper_level:.0%} in the epochs run, so this is the lowest "
                         f"level both reached")
        metrics.append(_metric("ratio", f"{other.label} / {better.label}, epochs to {level:.0%}", "x",
                               {"epoch ratio": ratios}, seeds))
        metrics.append(_metric("time_ratio", f"{other.label} / {better.label}, training seconds to {level:.0%}", "x",
                               {"time ratio": time_ratios}, seeds))
    sentence = f"{measured} (paper: {experiment.paper_number}): {held}" + (" in direction." if ratios else ".")
    claim = {"claim": f"{better.label} reaches a training error in fewer epochs than {other.label}",
             "paper": experiment.paper_number, "measured": measured, "level": level,
             "value": statistics.fmean(ratios) if ratios else None,
             "paper_value": experiment.paper_value, "verdict": held, "sentence": sentence}
    shown = level if level is not None else paper_level
    shown_metric = next(m for m in metrics if m["key"] == f"epochs_to_{shown:.2f}")
    return {"metrics": metrics, "claims": [claim],
            "plot": {"ylabel": f"epochs to {shown:.0%} training error",
                     "groups": [(v.label, shown_metric["values"][v.key]) for v in experiment.variants],
                     "reached": [shown_metric["reached"][v.key] for v in experiment.variants],
                     "threshold": shown, "paper_threshold": paper_level}}


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
    overfit = {"claim": f"without dropout the net overfits more (larger test-train gap)",
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
