"""Six claims of the paper that ``scratchnet reproduce`` re-measures with AlexNet, one ``Experiment`` each.

The seventh, Figure 1 (ReLU vs tanh), trains the paper's own four-layer net
with a learning-rate sweep: ``relu_tanh.py``.

An experiment is a handful of variants of one training recipe (the ``Scale``,
see ``scale.py``) that differ in exactly one thing, trained with the same
seeds on the same data, and a way to read the claim off their runs
(``kind``, see ``analysis.py``):

- ``test_error``: final test top-1 error of ``better`` vs ``other``;
- ``dropout``: the train-test gap, and the iterations needed to reach the
  same training error;
- ``ten_crop``: one checkpoint per seed, tested with one view and with ten.

Where a variant equals the scale's base recipe it has no changes, so the
runner trains it once and every experiment that needs it reuses that run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Kernel counts of the cifar configuration, before --conv-width (models/config.py).
CIFAR_CONV = (64, 128, 192, 192, 128)
TINY_CONV = (4, 8, 8, 8, 8)


@dataclass(frozen=True)
class Variant:
    key: str                                    # short id used in files: "relu", "no-lrn"
    label: str                                  # what the table says
    model_options: dict = field(default_factory=dict)   # AlexNetConfig fields over the scale's
    settings: dict = field(default_factory=dict)        # TrainSettings fields over the scale's


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    kind: str                                   # test_error | dropout | ten_crop
    paper_claim: str                            # the sentence of the paper, quoted or paraphrased
    paper_section: str
    paper_number: str                           # what the paper reports, as printed beside ours
    paper_value: float | None                   # the same as one number (points, or a ratio), if any
    variants: tuple                             # of Variant; variants[0] is the one the paper says is better
    seeds: int                                  # default number of seeds at full scale
    definition: str                             # how this scale defines the experiment, honestly
    base_model_options: dict = field(default_factory=dict)  # for every variant of this experiment
    base_settings: dict = field(default_factory=dict)
    extras: tuple = ()                          # extra measurements per run: "train_eval", "ten_crop"

    @property
    def better(self) -> Variant:
        return self.variants[0]

    @property
    def other(self) -> Variant:
        return self.variants[-1]


def one_tower_half_kernels(model: str) -> dict:
    """The paper's one-GPU comparison net: half the kernels of conv1-4, conv5 (and the fc layers) kept.

    Paper, section 3.2, footnote: "The one-GPU net actually has the same
    number of kernels as the two-GPU net in the final convolutional layer
    [...] we did not halve the size of the final convolutional layer (nor
    the fully-connected layers which follow)."
    """
    full = TINY_CONV if model == "tiny" else CIFAR_CONV
    return {"towers": 1, "groups": 1, "conv_channels": tuple(c // 2 for c in full[:4]) + (full[4],)}


NO_REGULARISATION = {"weight_decay": 0.0, "augment": "none"}

EXPERIMENTS: dict[str, Experiment] = {}


def _add(experiment: Experiment) -> None:
    EXPERIMENTS[experiment.name] = experiment


_add(Experiment(
    name="lrn",
    title="Local response normalisation: with vs without",
    kind="test_error",
    paper_claim="A four-layer CNN achieved a 13% test error rate on CIFAR-10 without normalization and 11% "
                "with normalization (on ImageNet it reduced top-1 error by 1.4 points).",
    paper_section="section 3.3",
    paper_number="13% vs 11% test error (2 points better with LRN)",
    paper_value=2.0,
    variants=(Variant("lrn", "with LRN"), Variant("no-lrn", "without LRN", {"lrn": False})),
    seeds=3,
    definition="The scale's network with LRN after conv1 and conv2 (paper's constants k=2, n=5, alpha=1e-4, "
               "beta=0.75), against the same network without the two LRN layers. Everything else "
               "(dropout, weight decay, crops and flips) as in the scale's recipe.",
))

_add(Experiment(
    name="overlap-pool",
    title="Overlapping max-pooling (3x3 windows, stride 2) vs plain (2x2, stride 2)",
    kind="test_error",
    paper_claim="Overlapping pooling (s=2, z=3) reduces the top-1 and top-5 error rates by 0.4% and 0.3%, "
                "compared with the non-overlapping scheme s=2, z=2.",
    paper_section="section 3.4",
    paper_number="0.4 points lower top-1 error with overlapping pooling",
    paper_value=0.4,
    variants=(Variant("overlap", "overlapping 3/2"), Variant("plain", "plain 2/2", {"pool": "plain"})),
    seeds=3,
    definition="All three max-pool layers 3x3 stride 2 against 2x2 stride 2. At 32x32 the maps differ in "
               "size (32-15-7-3 vs 32-16-8-4, so fc6 reads 9 vs 16 positions per channel); at 227x227 in "
               "the paper both give 27-13-6.",
))

_add(Experiment(
    name="dropout",
    title="Dropout in fc6 and fc7: with (p=0.5) vs without",
    kind="dropout",
    paper_claim="Without dropout, our network exhibits substantial overfitting. Dropout roughly doubles the "
                "number of iterations required to converge.",
    paper_section="section 4.2",
    paper_number="substantial overfitting without dropout (no number); ~2x the iterations with it",
    paper_value=2.0,
    variants=(Variant("dropout", "dropout 0.5"), Variant("no-dropout", "no dropout", {"dropout": 0.0})),
    seeds=3,
    extras=("train_eval",),
    definition="Overfitting = test error minus training error, both measured after training with the "
               "centre view and dropout off (training error on a fixed sample of the training subset). "
               "Iterations to converge = epochs until the training error over windows of `log_every` steps first "
               "reaches the highest final training error among the runs, i.e. a level every run reaches; "
               "the ratio with/without dropout is compared with the paper's 'roughly doubles'.",
))

_add(Experiment(
    name="towers",
    title="Two towers vs one tower with half the kernels",
    kind="test_error",
    paper_claim="The two-GPU net reduces top-1 and top-5 error rates by 1.7% and 1.2%, compared with a net "
                "with half as many kernels in each convolutional layer trained on one GPU.",
    paper_section="section 3.2",
    paper_number="1.7 points lower top-1 error with two towers",
    paper_value=1.7,
    variants=(Variant("two-towers", "two towers"),
              Variant("one-tower", "one tower, half kernels", {"one_tower_half_kernels": True})),
    seeds=3,
    definition="Two towers (the scale's network: conv2, conv4, conv5 and fc6/fc7 split, exchanges at conv3 "
               "and the fc layers) against one tower, no groups, with half the kernels in conv1-conv4. As the "
               "paper's footnote says, conv5 and the fc layers are not halved, so both nets have about the "
               "same number of parameters (the table gives both counts).",
))

_add(Experiment(
    name="pca-colour",
    title="PCA colour augmentation: with vs without",
    kind="test_error",
    paper_claim="This scheme [PCA colour augmentation] reduces the top-1 error rate by over 1%.",
    paper_section="section 4.1",
    paper_number="over 1 point lower top-1 error with PCA colour",
    paper_value=1.0,
    variants=(Variant("pca", "crops, flips + PCA colour", settings={"augment": "crop,flip,pca"}),
              Variant("no-pca", "crops, flips")),
    seeds=3,
    definition="Random pad-4 crops and flips in both; one adds the paper's PCA colour offsets "
               "(sum_i alpha_i lambda_i p_i, alpha_i ~ N(0, 0.1), eigen-decomposition of the training "
               "subset's RGB covariance, one draw per image per pass).",
))

_add(Experiment(
    name="ten-crop",
    title="Test with one view vs the average of ten crops (same checkpoint)",
    kind="ten_crop",
    paper_claim="At test time, the network makes a prediction by extracting five patches (the four corner "
                "patches and the center patch) as well as their horizontal reflections, and averaging the "
                "predictions made by the network's softmax layer on the ten patches.",
    paper_section="section 4.1",
    paper_number="no number given for this step alone",
    paper_value=None,
    variants=(Variant("base", "the scale's network"),),
    seeds=3,
    extras=("ten_crop",),
    definition="The models train on 32x32 crops of the image zero-padded by 4 pixels (after mean "
               "subtraction, so the padding is the mean colour), so the 'centre crop' is the whole image and "
               "the built-in 10-crop test (`--ten-crop`) degenerates to 5 copies of the image plus 5 of its "
               "mirror, a flip average. The honest analogue of the paper's 10 crops at this scale is taken from "
               "the 4-pixel padded image: its four corners (shifted 4 pixels each way, the training crops' "
               "extremes) and centre (the image itself), and their mirrors. Both tests run on the same "
               "checkpoints (the scale's base runs, shared with the other experiments) and the same test images.",
))


def experiment_names() -> list[str]:
    return list(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
