"""AlexNet configurations: the paper's, a CIFAR-sized one, and a tiny one for tests.

Every configuration has the paper's eight-layer shape: five convolutions
(LRN after the first two activations, max-pooling after LRN1, LRN2 and
conv5) and three fully connected layers with dropout on fc6's and fc7's
outputs. Widths are the totals over both towers.

``cifar`` (32x32 inputs), choice by choice:

- conv1 5x5 stride 1 pad 2, 64 kernels: at 32x32 an 11x11/4 kernel would
  leave 6x6 maps after the first layer; 5x5/1 keeps 32x32 and sees roughly
  the same fraction of the image as the paper's 11x11 sees of 227.
- conv2 5x5 pad 2, 128 kernels; conv3-5 3x3 pad 1, 192-192-128 kernels: the
  paper's kernel sizes, about half its widths (a third of its 96-256-384-
  384-256 for the early layers would starve CIFAR's colour features; half
  keeps an epoch of 50,000 images within minutes on two cores).
- Overlapping 3/2 pooling as in the paper: 32 -> 15 -> 7 -> 3, so fc6 reads
  128 x 3 x 3 = 1,152 features.
- fc6 and fc7 1024 wide (the paper's 4096 would be 90% of the parameters and
  overfit 50,000 images); fc8 has 10 classes.
- He initialisation, biases 0: the usual choice for a net trained from
  scratch in minutes; ``init="paper"`` selects the paper's N(0, 0.01)
  with biases of 1 for comparison.

``paper`` starts from ``he-conv`` (``INITS``), not from the paper's own
initialisation: on real photos the paper's biases of 1 make fc7's outputs
large and positive, so one SGD step moves fc8's logits by about
lr * |h7|^2 (thousands), the loss jumps past 20 and the network stalls at
chance; Caffe's fillers do not blow up but learn nothing for a hundred
steps. Lesson 12 measures all of them; ``init="paper"`` is still there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Weight initialisations (``--init``):
INITS = {
    "paper": "the paper's N(0, 0.01) weights, biases 1 in conv2, conv4, conv5, fc6, fc7 (stalls: lesson 12)",
    "caffe": "Caffe's bvlc_alexnet fillers: N(0, 0.01), N(0, 0.005) in fc6/fc7, biases 0.1 where the paper has 1",
    "he": "He's N(0, 2 / fan_in), biases 0",
    "he-conv": "He's N(0, 2 / fan_in) in the convolutions, Caffe's N(0, 0.005) in fc6/fc7 and N(0, 0.01) in fc8, "
               "biases 0",
}


@dataclass(frozen=True)
class AlexNetConfig:
    name: str
    input_size: int
    in_channels: int = 3
    conv_channels: tuple = (96, 256, 384, 384, 256)
    conv1: tuple = (11, 4, 0)          # kernel, stride, pad
    conv2: tuple = (5, 1, 2)
    conv345: tuple = (3, 1, 1)
    fc_width: int = 4096
    num_classes: int = 1000
    activation: str = "relu"           # "relu" | "tanh"
    lrn: bool = True
    pool: str = "overlap"              # "overlap" (3/2) | "plain" (2/2)
    towers: int = 2                    # 2: the paper's two devices; 1: one device
    groups: int = 2                    # with towers=1: 2 splits conv2/4/5 as the paper does, 1 does not
    conv_width: float = 1.0            # scales every convolution's kernel count
    dropout: float = 0.5
    init: str = "he-conv"              # see INITS

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "AlexNetConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - fields
        if unknown:
            raise ValueError(f"unknown AlexNet config keys {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})

    def channels(self) -> tuple:
        """Kernel counts of conv1..conv5 after ``conv_width``, kept divisible by 2 for the split."""
        return tuple(max(2, int(round(c * self.conv_width / 2)) * 2) for c in self.conv_channels)

    def validate(self) -> "AlexNetConfig":
        problems = []
        if self.activation not in ("relu", "tanh"):
            problems.append(f"activation must be 'relu' or 'tanh', got {self.activation!r}")
        if self.pool not in ("overlap", "plain"):
            problems.append(f"pool must be 'overlap' (3/2) or 'plain' (2/2), got {self.pool!r}")
        if self.towers not in (1, 2):
            problems.append(f"towers must be 1 or 2, got {self.towers!r}")
        if self.groups not in (1, 2):
            problems.append(f"groups must be 1 or 2, got {self.groups!r}")
        if self.towers == 2 and self.groups != 2:
            problems.append("towers=2 splits conv2, conv4 and conv5 by construction; groups=1 needs towers=1")
        if self.init not in INITS:
            problems.append(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_classes < 2:
            problems.append(f"num_classes must be at least 2, got {self.num_classes}")
        if self.fc_width % 2:
            problems.append(f"fc_width must be even (it is split between two towers), got {self.fc_width}")
        if problems:
            raise ValueError(f"AlexNet config {self.name!r}: " + "; ".join(problems))
        return self


CONFIGS = {
    "paper": AlexNetConfig(name="paper", input_size=227),
    "cifar": AlexNetConfig(
        name="cifar", input_size=32, conv_channels=(64, 128, 192, 192, 128),
        conv1=(5, 1, 2), fc_width=1024, num_classes=10, init="he",
    ),
    "tiny": AlexNetConfig(
        name="tiny", input_size=16, conv_channels=(4, 8, 8, 8, 8),
        conv1=(3, 1, 1), conv2=(3, 1, 1), fc_width=8, num_classes=5, init="he",
    ),
}


def make_config(config: str | AlexNetConfig = "cifar", **options) -> AlexNetConfig:
    """A named configuration with ``options`` (any field above) overriding it."""
    if isinstance(config, AlexNetConfig):
        base = config
    elif config in CONFIGS:
        base = CONFIGS[config]
    else:
        raise ValueError(f"unknown model {config!r}; choose one of {', '.join(CONFIGS)}")
    fields = {f.name for f in dataclasses.fields(AlexNetConfig)} - {"name"}
    unknown = set(options) - fields
    if unknown:
        raise ValueError(f"unknown AlexNet option(s) {sorted(unknown)}; known: {sorted(fields)}")
    return dataclasses.replace(base, **options).validate()
