"""`scratchnet reproduce`: the machinery (runs, tables, plots, reuse, CLI), not the science.

Every experiment runs at its --quick scale on the bundled digits (no download
needed), one seed each; lrn runs a second seed to check the multi-seed table.
Runs are shared through one runs folder, as in real use, so the experiments'
common baseline trains once.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnet.cli import main
from scratchnet.reproduce import EXPERIMENTS, QUICK, get_experiment, make_scale, run_experiment
from scratchnet.reproduce.analysis import direction, first_crossing, verdict
from scratchnet.reproduce.runs import PaddedTenCrop, fixed_sample
from scratchnet.reproduce.scale import settings_for

VERDICTS = ("held", "reversed", "not resolved", "agrees (1 seed, noise not measured)",
            "disagrees (1 seed, noise not measured)")


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory):
    """Every experiment at the quick scale, one seed; lrn with two."""
    root = tmp_path_factory.mktemp("reproduce")
    out, runs = root / "results", root / "runs"
    reports = {}
    for name in EXPERIMENTS:
        reports[name] = run_experiment(name, quick=True, seeds=2 if name == "lrn" else 1, out=out, runs=runs,
                                       print_fn=lambda *a: None)
    return {"reports": reports, "out": out, "runs": runs}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_experiment_writes_a_complete_table(quick_reports, name):
    experiment = get_experiment(name)
    report = quick_reports["reports"][name]
    folder = quick_reports["out"] / name
    assert sorted(p.name for p in folder.iterdir()) == ["plot.png", "table.json", "table.md"]  # no checkpoints
    assert (folder / "plot.png").stat().st_size > 2000
    assert (folder / "table.json").stat().st_size < 200_000
    saved = json.loads((folder / "table.json").read_text())  # strict JSON: no NaN
    seeds = [0, 1] if name == "lrn" else [0]
    assert saved["seeds"] == seeds
    pairs = {(run["variant"], run["seed"]) for run in saved["runs"]}
    assert pairs == {(v.key, s) for v in experiment.variants for s in seeds}
    assert saved["experiment"]["paper_number"] == experiment.paper_number
    assert saved["analysis"]["claims"] and all(c["verdict"] in VERDICTS for c in saved["analysis"]["claims"])
    text = (folder / "table.md").read_text()
    assert experiment.paper_number in text
    for variant in experiment.variants:
        assert variant.label in text
    for seed in seeds:
        assert f"seed {seed}" in text
    assert "scratchnet reproduce " + name in text and "--quick" in text
    assert "Machine:" in text and "Wall time" in text
    assert "digits" in text  # quick without --data: the bundled digits, said in the table
    # Every metric row has a value for every seed.
    for metric in saved["analysis"]["metrics"]:
        for values in metric["values"].values():
            assert len(values) == len(seeds)
    assert report["paths"]["markdown"].endswith("table.md")


def test_two_seeds_give_mean_and_spread(quick_reports):
    text = (quick_reports["out"] / "lrn" / "table.md").read_text()
    assert "| seed 0 | seed 1 | mean ± std |" in text
    rows = [line for line in text.splitlines() if line.startswith("| test top-1 error")]
    assert len(rows) == 2 and all(" ± " in row for row in rows)


def test_the_baseline_run_is_shared_between_experiments(quick_reports):
    reports = quick_reports["reports"]
    baseline = {name: {run["run_dir"] for run in reports[name]["runs"] if run["seed"] == 0}
                for name in ("lrn", "overlap-pool", "dropout", "towers", "pca-colour", "ten-crop")}
    shared = set.intersection(*baseline.values())
    assert len(shared) == 1
    runs = list(quick_reports["runs"].iterdir())
    # base x 2 seeds, one change x 5 (+1 seed for lrn), relu and tanh
    assert len(runs) == 2 + 6 + 2


def test_cli_reuses_runs_and_prints_the_paper_beside_the_measure(quick_reports, capsys):
    out, runs = quick_reports["out"], quick_reports["runs"]
    code = main(["reproduce", "towers", "--quick", "--seeds", "1", "--out", str(out), "--runs", str(runs)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "reused" in printed and "paper: 1.7 points lower top-1 error" in printed and "here:" in printed
    saved = json.loads((out / "towers" / "table.json").read_text())
    assert all(run["reused"] for run in saved["runs"])
    assert saved["command"].startswith("scratchnet reproduce towers --quick")


def test_help_lists_every_experiment(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = capsys.readouterr().out
    for name, experiment in EXPERIMENTS.items():
        assert name in text
    assert "--quick" in text and "--seeds" in text and "--out" in text


def test_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "no-such-claim"])
    assert "invalid choice" in capsys.readouterr().err


def test_variants_differ_only_in_what_they_test():
    full = make_scale(quick=False, data="x")
    relu = settings_for(full, get_experiment("relu-vs-tanh"), get_experiment("relu-vs-tanh").variants[1], 0, "x", "o")
    assert relu.model_options["activation"] == "tanh" and relu.model_options["lrn"] is False
    assert relu.model_options["dropout"] == 0.0 and relu.weight_decay == 0.0 and relu.augment == "none"
    towers = get_experiment("towers")
    two, one = (settings_for(full, towers, v, 0, "x", "o") for v in towers.variants)
    assert two.model_options == {"conv_width": 0.5}
    # The paper's one-GPU net: conv1-4 halved, conv5 kept (section 3.2, footnote).
    assert one.model_options["conv_channels"] == (32, 64, 96, 96, 128) and one.model_options["towers"] == 1
    pca = get_experiment("pca-colour")
    assert [settings_for(full, pca, v, 0, "x", "o").augment for v in pca.variants] == ["crop,flip,pca", "crop,flip"]
    quick = make_scale(quick=True, data=None)
    assert quick.dataset == "digits" and quick.model == QUICK.model
    assert make_scale(quick=True, data="x").dataset == "auto"


def test_verdict_rules():
    assert verdict([1.0, 1.2], [0.3, 0.5]) == "held"
    assert verdict([1.0, 0.2], [0.3, 0.7]) == "not resolved"      # mean below one variant's spread
    assert verdict([0.4, -0.1], [0.1, 0.2]) == "not resolved"     # the seeds disagree
    assert verdict([-1.0, -1.2], [0.3, 0.5]) == "reversed"
    assert verdict([0.5]).startswith("agrees") and verdict([-0.5]).startswith("disagrees")
    assert direction([0.1, 0.2]) == "held" and direction([0.1, -0.2]) == "not resolved"
    windows = [{"epoch": 0.5, "train_error": 0.6}, {"epoch": 1.0, "train_error": 0.24},
               {"epoch": 1.5, "train_error": 0.2}]
    assert first_crossing(windows, 0.25)["epoch"] == 1.0 and first_crossing(windows, 0.1) is None


def test_padded_ten_crop_is_corners_and_centre_of_the_padded_image():
    from scratchnet.data.transforms import EvalTransform, Preprocessing

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    stats = Preprocessing.fit(images)
    eval_transform = EvalTransform(stats, crop=8, scale=0.5)
    crops = PaddedTenCrop(eval_transform, pad=2)(images).reshape(2, 10, 3, 8, 8)
    np.testing.assert_allclose(crops[:, 4], eval_transform(images), rtol=1e-6)       # centre: the image itself
    np.testing.assert_allclose(crops[:, 9], eval_transform(images)[..., ::-1], rtol=1e-6)  # its mirror
    top_left = crops[:, 0]
    assert np.all(top_left[:, :, :2, :] == 0) and np.all(top_left[:, :, :, :2] == 0)  # padding = mean colour = 0
    np.testing.assert_allclose(top_left[:, :, 2:, 2:], eval_transform(images)[:, :, :6, :6], rtol=1e-6)
    assert not np.allclose(crops[:, 0], crops[:, 3])


def test_fixed_sample_does_not_depend_on_anything_but_its_seed():
    a, b = fixed_sample(100, 10, 7), fixed_sample(100, 10, 7)
    np.testing.assert_array_equal(a, b)
    assert len(set(a)) == 10 and list(a) == sorted(a)
    np.testing.assert_array_equal(fixed_sample(5, None, 7), np.arange(5))
