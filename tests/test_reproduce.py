"""`scratchnet reproduce`: the machinery (runs, tables, plots, reuse, CLI), not the science.

Every AlexNet experiment runs at its --quick scale on the bundled digits (no
download needed), one seed each; lrn runs a second seed to check the
multi-seed table. Runs are shared through one runs folder, as in real use, so
the experiments' common baseline trains once. relu-vs-tanh (Figure 1: the
four-layer net and its learning-rate sweep) is tested at the end: the net's
gradients, a run's stopping rule, the choice of learning rate and the
speed-up's bounds on made-up runs, and the command on a few digits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnet.cli import main
from scratchnet.tools.reproduce import EXPERIMENTS, QUICK, get_experiment, make_scale, run_experiment
from scratchnet.tools.reproduce.analysis import direction, first_crossing, verdict
from scratchnet.tools.reproduce.runs import PaddedTenCrop, fixed_sample
from scratchnet.tools.reproduce.scale import settings_for

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
    # base x 2 seeds, one change x 5 (+1 seed for lrn)
    assert len(runs) == 2 + 6


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
    assert "relu-vs-tanh" in text and "--lrs" in text and "--per-class" in text and "--max-epochs" in text
    assert "--quick" in text and "--seeds" in text and "--out" in text


def test_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "no-such-claim"])
    assert "invalid choice" in capsys.readouterr().err


def test_variants_differ_only_in_what_they_test():
    full = make_scale(quick=False, data="x")
    dropout = get_experiment("dropout")
    with_it, without = (settings_for(full, dropout, v, 0, "x", "o") for v in dropout.variants)
    assert without.model_options == {"conv_width": 0.5, "dropout": 0.0} and with_it.model_options == {"conv_width": 0.5}
    assert with_it.to_dict() == {**without.to_dict(), "model_options": with_it.model_options}
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


# --- relu-vs-tanh: the paper's Figure 1 with its four-layer net -------------------------------------------------

from scratchnet.layers import SoftmaxCrossEntropy  # noqa: E402
from scratchnet.tools.reproduce.four_layer import FourLayerNet  # noqa: E402
from scratchnet.tools.reproduce.relu_tanh_analysis import analyse_sweep, speedups  # noqa: E402
from scratchnet.tools.reproduce.relu_tanh_run import RunSpec, train_to_target  # noqa: E402
from scratchnet.tools.reproduce.relu_tanh_sweep import SweepSettings, best_lr  # noqa: E402


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_four_layer_net_gradients_match_centred_differences(activation):
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((3, 3, 32, 32)), np.array([1, 7, 4])
    net, loss = FourLayerNet(activation, seed=1, dtype=np.float64), SoftmaxCrossEntropy()
    loss.forward(net.forward(x), labels)
    net.backward(loss.backward())
    h = 1e-6
    for name, value in net.params.items():
        for _ in range(3):
            index = tuple(int(rng.integers(0, n)) for n in value.shape)
            old = value[index]
            value[index] = old + h
            up = float(loss.forward(net.forward(x), labels))
            value[index] = old - h
            down = float(loss.forward(net.forward(x), labels))
            value[index] = old
            numeric = (up - down) / (2 * h)
            assert abs(net.grads[name][index] - numeric) <= 1e-6 + 1e-5 * abs(numeric), (name, index)


def test_four_layer_net_is_layers_18pct_shaped_and_both_nets_start_from_the_same_draws():
    relu, tanh = FourLayerNet("relu", seed=5), FourLayerNet("tanh", seed=5)
    assert relu.num_params() == 2432 + 25632 + 51264 + 5770  # conv 5x5 32, 32, 64 (pad 2), fc 576 -> 10
    assert relu.forward(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)
    assert [type(layer).__name__ for _, layer in tanh.named_layers].count("Tanh") == 3
    for name in relu.params:
        np.testing.assert_array_equal(relu.params[name], tanh.params[name])
    assert not np.array_equal(FourLayerNet("relu", seed=6).params["conv1.W"], relu.params["conv1.W"])
    np.testing.assert_allclose(relu.params["conv2.W"].std(), 1 / np.sqrt(32 * 25), rtol=0.05)  # LeCun's
    with pytest.raises(ValueError, match="activation"):
        FourLayerNet("sigmoid")


@pytest.fixture(scope="module")
def digits_images():
    from scratchnet.tools.reproduce.relu_tanh_data import load_training_images

    return load_training_images(None, 10, dataset="digits")


def test_digits_subset_is_balanced_and_centred(digits_images):
    assert digits_images.x.shape == (100, 3, 32, 32) and digits_images.x.dtype == np.float32
    assert np.bincount(digits_images.y).tolist() == [10] * 10
    assert abs(float(digits_images.x.mean())) < 1e-3 and "10 per class" in digits_images.description


def test_a_run_stops_at_the_first_reading_at_or_below_the_target(digits_images):
    x, y = digits_images.x, digits_images.y
    reached = train_to_target(RunSpec("relu", 0.01, 0, 20.0, batch_size=20, target=0.6), x, y)
    assert reached["outcome"] == "reached"
    errors = [point["train_error"] for point in reached["curve"]]
    assert errors[-1] <= 0.6 and all(e > 0.6 for e in errors[:-1])
    assert reached["epochs"] == reached["curve"][-1]["epoch"] < 20
    assert reached["images_seen"] == round(reached["epochs"] * len(x))
    capped = train_to_target(RunSpec("relu", 0.01, 0, 0.4, batch_size=20, target=0.01), x, y)
    assert capped["outcome"] == "not reached" and capped["epochs"] == 0.4 and capped["steps"] == 2
    again = train_to_target(RunSpec("relu", 0.01, 0, 20.0, batch_size=20, target=0.6), x, y)
    assert len(again["curve"]) == len(reached["curve"])
    assert again["curve"] == [dict(p, seconds=q["seconds"]) for p, q in zip(reached["curve"], again["curve"])]


def _run(activation, lr, seed, epochs, outcome="reached", phase="grid"):
    return {"activation": activation, "lr": lr, "seed": seed, "epochs": epochs, "outcome": outcome,
            "phase": phase, "images_seen": 0, "seconds": 1.0, "curve": []}


def test_the_fastest_rate_ranks_every_reached_run_before_a_bound():
    runs = [_run("relu", 0.1, 0, 2.0, "not reached"), _run("relu", 0.03, 0, 5.0), _run("relu", 0.01, 0, 3.0),
            _run("tanh", 0.03, 0, 1.5, "pruned"), _run("tanh", 0.01, 0, 9.0)]
    assert best_lr(runs, "relu", 1) == 0.01 and best_lr(runs, "tanh", 1) == 0.01


def test_speedup_bounds_and_direction_on_made_up_runs():
    settings = SweepSettings(lrs=(0.01, 0.03), seeds=3, grid_seeds=1)
    relu = [_run("relu", 0.01, 0, 2.0), _run("relu", 0.03, 0, 4.0)] + \
        [_run("relu", 0.01, s, 2.0 + s, phase="seeds") for s in (1, 2)]
    tanh = [_run("tanh", 0.01, 0, 12.0), _run("tanh", 0.03, 0, 13.0, "pruned")] + \
        [_run("tanh", 0.01, 1, 15.0, phase="seeds"), _run("tanh", 0.01, 2, 20.0, "not reached", "seeds")]
    analysis = analyse_sweep(relu + tanh, settings)
    assert analysis["best_lr"] == {"relu": 0.01, "tanh": 0.01}
    assert [s["bound"] for s in analysis["per_seed"]] == ["exact", "exact", "at least"]
    assert [round(s["speedup"], 2) for s in analysis["per_seed"]] == [6.0, 5.0, 5.0]
    assert analysis["verdict"] == "held" and analysis["speedup_qualifier"] == ">= "
    assert analysis["best_lr_at_grid_edge"] == {"relu": True, "tanh": True}
    # The same runs with the activations' epochs swapped: the direction reverses.
    swapped = [dict(r, activation="tanh" if r["activation"] == "relu" else "relu") for r in relu + tanh]
    assert analyse_sweep(swapped, settings)["verdict"] == "reversed"
    # A seed where tanh never reached the target and ReLU stopped later: that seed's direction is unknown.
    unknown = speedups([_run("relu", 0.01, 0, 9.0, "not reached")], [_run("tanh", 0.01, 0, 5.0, "not reached")])
    assert unknown[0]["bound"] == "unknown"


def test_cli_runs_the_sweep_and_writes_its_table_atomically(tmp_path, capsys):
    code = main(["reproduce", "relu-vs-tanh", "--quick", "--per-class", "5", "--lrs", "0.03,0.01", "--seeds", "2",
                 "--max-epochs", "2", "--target", "0.7", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "[relu 1/3] lr 0.03, seed 0 (grid" in printed and "[tanh 3/3] lr" in printed
    assert "fastest learning rate of the grid" in printed
    folder = tmp_path / "relu-vs-tanh"
    assert sorted(p.name for p in folder.iterdir()) == ["plot.png", "table.json", "table.md"]  # no temp files left
    saved = json.loads((folder / "table.json").read_text())
    assert saved["settings"]["lrs"] == [0.03, 0.01] and saved["settings"]["per_class"] == 5
    assert "50 training images" in saved["data"] and saved["num_params"] == 85098
    pairs = {(r["activation"], r["seed"]) for r in saved["runs"]}
    assert pairs == {(a, s) for a in ("relu", "tanh") for s in (0, 1)} and len(saved["runs"]) == 6
    assert set(saved["analysis"]["best_lr"].values()) <= {0.03, 0.01}
    assert saved["analysis"]["verdict"] in ("held", "reversed", "not resolved")
    text = (folder / "table.md").read_text()
    assert "| ReLU | 0.01 |" in text and "| tanh | 0.03 |" in text and "**fastest**" in text
    assert "scratchnet reproduce relu-vs-tanh --quick --per-class 5" in text
    assert (folder / "plot.png").stat().st_size > 2000


@pytest.mark.parametrize("words, message", [
    (["--grid-seeds", "4", "--seeds", "3"], "--grid-seeds between 1 and --seeds"),
    (["--target", "1.5"], "--target must lie between 0 and 1"),
])
def test_cli_refuses_impossible_sweeps_in_one_sentence(tmp_path, capsys, words, message):
    code = main(["reproduce", "relu-vs-tanh", "--quick", "--out", str(tmp_path), *words])
    assert code != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "relu-vs-tanh").exists()


def test_cli_refuses_learning_rates_that_are_not_numbers(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "relu-vs-tanh", "--lrs", "fast"])
    assert "comma-separated numbers" in capsys.readouterr().err


def test_figure1_data_is_the_data_folder_or_the_named_file_never_a_guess(tmp_path, monkeypatch):
    from scratchnet.tools.reproduce import relu_tanh_data

    monkeypatch.setattr(relu_tanh_data, "find_default_cifar10", lambda: None)   # no CIFAR-10 in data/
    named = tmp_path / "cifar10-jpeg.tar.xz"
    monkeypatch.setenv(relu_tanh_data.CIFAR_VARIABLE, str(named))
    assert relu_tanh_data.default_data() is None                  # named, but not there: the digits
    named.write_bytes(b"")
    assert relu_tanh_data.default_data() == str(named)
    monkeypatch.delenv(relu_tanh_data.CIFAR_VARIABLE)
    assert relu_tanh_data.default_data() is None
    monkeypatch.setattr(relu_tanh_data, "find_default_cifar10", lambda: tmp_path / "in-data")
    assert relu_tanh_data.default_data() == str(tmp_path / "in-data")
