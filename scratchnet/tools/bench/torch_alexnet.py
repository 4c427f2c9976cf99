"""The same AlexNet built in torch.nn: PyTorch's side of the benchmark.

Layer for layer what ``scratchnet.models.alexnet`` builds, on one device:

- the two towers are grouped convolutions (conv2, conv4, conv5 with
  ``groups=2``; conv3 reads both towers, so it has none), as in Caffe's
  AlexNet; fc6 and fc7 are whole dense layers (each tower's half reads
  every input, so the halves side by side are one layer);
- LRN uses the paper's convention, alpha not divided by the window, which in
  PyTorch is ``LocalResponseNorm(size, alpha=size * alpha, beta, k)``
  (1e-4 -> 5e-4); with towers each tower's channels are normalised on their
  own (a window never reaches the other tower), as ScratchNet's ``LRN(groups=2)``;
- ReLU in place, as torchvision's AlexNet; dropout after act6 and act7;
- the same initialisation (the paper's N(0, 0.01) with biases of 1 in conv2,
  conv4, conv5, fc6, fc7, or He's), or ScratchNet's very weights through
  ``load_scratchnet_weights``.

Children carry ScratchNet's layer names (conv1, act1, lrn1, pool1, ...), so
per-layer tables line up. torch is imported inside the functions only:
importing this module never imports it.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from ...models import make_config
from ...models.alexnet import PAPER_BIAS_ONE, PAPER_WEIGHT_STD
from ...models.config import AlexNetConfig


def split_groups(config: AlexNetConfig) -> int:
    """How many groups conv2/4/5 and LRN1/2 have: 2 with two towers or with groups=2 on one."""
    return 2 if config.towers == 2 or config.groups == 2 else 1


def layer_names(config: AlexNetConfig) -> list[str]:
    """ScratchNet's layer names in order (towers merged), as the torch model's children are named."""
    names = ["conv1", "act1"] + (["lrn1"] if config.lrn else []) + ["pool1", "conv2", "act2"]
    names += (["lrn2"] if config.lrn else []) + ["pool2"]
    names += ["conv3", "act3", "conv4", "act4", "conv5", "act5", "pool5", "flatten"]
    names += ["fc6", "act6", "drop6", "fc7", "act7", "drop7", "fc8"]
    return names


def torch_alexnet(config: str | AlexNetConfig = "paper", seed: int = 0, **options):
    """An ``nn.Sequential`` equal to ``scratchnet.models.alexnet(config, **options)`` (float32, CPU)."""
    from torch import nn

    config = make_config(config, **options)
    groups = split_groups(config)
    c1, c2, c3, c4, c5 = config.channels()
    pool = (3, 2) if config.pool == "overlap" else (2, 2)

    class GroupedLRN(nn.Module):
        """The paper's LRN (alpha not divided by size), each group of channels on its own."""

        def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, groups=1):
            super().__init__()
            self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

        def forward(self, x):
            n, c, h, w = x.shape
            blocks = x.reshape(n * self.groups, c // self.groups, h, w)
            y = nn.functional.local_response_norm(blocks, self.size, self.size * self.alpha, self.beta, self.k)
            return y.reshape(n, c, h, w)

        def extra_repr(self):
            return f"size={self.size}, alpha={self.alpha} (paper's), beta={self.beta}, k={self.k}, groups={self.groups}"

    def act():
        return nn.ReLU(inplace=True) if config.activation == "relu" else nn.Tanh()

    def conv(cin, cout, geometry, g=1):
        kernel, stride, pad = geometry
        return nn.Conv2d(cin, cout, kernel, stride, pad, groups=g)

    def out(size, geometry):
        kernel, stride, pad = geometry
        return (size + 2 * pad - kernel) // stride + 1

    pooling = (pool[0], pool[1], 0)
    size = out(out(config.input_size, config.conv1), pooling)                    # conv1, pool1
    size = out(out(size, config.conv2), pooling)                                 # conv2, pool2
    size = out(out(out(out(size, config.conv345), config.conv345), config.conv345), pooling)  # conv3-5, pool5
    flat = c5 * size * size

    modules = {
        "conv1": conv(config.in_channels, c1, config.conv1), "act1": act(),
        "lrn1": GroupedLRN(groups=groups), "pool1": nn.MaxPool2d(*pool),
        "conv2": conv(c1, c2, config.conv2, groups), "act2": act(),
        "lrn2": GroupedLRN(groups=groups), "pool2": nn.MaxPool2d(*pool),
        "conv3": conv(c2, c3, config.conv345), "act3": act(),
        "conv4": conv(c3, c4, config.conv345, groups), "act4": act(),
        "conv5": conv(c4, c5, config.conv345, groups), "act5": act(),
        "pool5": nn.MaxPool2d(*pool), "flatten": nn.Flatten(),
        "fc6": nn.Linear(flat, config.fc_width), "act6": act(), "drop6": nn.Dropout(config.dropout),
        "fc7": nn.Linear(config.fc_width, config.fc_width), "act7": act(), "drop7": nn.Dropout(config.dropout),
        "fc8": nn.Linear(config.fc_width, config.num_classes),
    }

    model = nn.Sequential(OrderedDict((name, modules[name]) for name in layer_names(config)))
    _init_like_scratchnet(model, config, seed)
    return model.float()


def _init_like_scratchnet(model, config: AlexNetConfig, seed: int) -> None:
    """The paper's N(0, 0.01) with its biases of 1, or He's N(0, 2/fan_in) with biases 0."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_children():
            if not isinstance(module, (nn.Conv2d, nn.Linear)):
                continue
            fan_in = module.weight[0].numel()
            if config.init == "paper":
                std, bias = PAPER_WEIGHT_STD, (1.0 if name in PAPER_BIAS_ONE else 0.0)
            else:
                std, bias = math.sqrt(2.0 / fan_in), 0.0
            module.weight.normal_(0.0, std, generator=generator)
            module.bias.fill_(bias)


def load_scratchnet_weights(torch_model, scratchnet_model) -> None:
    """Copy a ScratchNet AlexNet's parameters into ``torch_model`` (same configuration).

    Two-tower states are merged into the one-tower layout first (``convert_state``);
    a dense W (in, out) becomes torch's weight (out, in).
    """
    import torch

    from ...models import convert_state

    state = scratchnet_model.state_dict()
    if scratchnet_model.config.towers == 2:
        state = convert_state(state, towers=1)
    modules = dict(torch_model.named_children())
    with torch.no_grad():
        for key, value in state.items():
            layer, param = key.rsplit(".", 1)
            module = modules[layer]
            if param == "W":
                weight = value.T if value.ndim == 2 else value
                module.weight.copy_(torch.from_numpy(weight.copy()))
            else:
                module.bias.copy_(torch.from_numpy(value.copy()))
