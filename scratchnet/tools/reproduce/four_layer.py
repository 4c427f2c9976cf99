"""The four-layer convolutional net of the paper's Figure 1, built from ScratchNet's own layers.

The paper (section 3.1) says only "a four-layer convolutional neural network"
on CIFAR-10, with "no regularization of any kind". Its author's cuda-convnet
ships one four-layer CIFAR-10 net, ``layers-18pct.cfg`` (three convolutions
and one fully connected layer), so this is that net, with these assumptions:

    conv1 5x5, 32 kernels, pad 2  -> act -> max-pool 3/2
    conv2 5x5, 32 kernels, pad 2  -> act -> max-pool 3/2
    conv3 5x5, 64 kernels, pad 2  -> act -> max-pool 3/2
    fc    64 * 3 * 3 -> 10        -> softmax

- act is ReLU or tanh (``activation``), the one thing the two nets differ in;
- no local response normalisation (layers-18pct has two: "no regularization"
  and a plain comparison of the non-linearities, so none here);
- all three poolings are max-pooling (layers-18pct averages in pool2 and
  pool3; ScratchNet has only max-pooling), with floor arithmetic, so the maps
  are 32 -> 15 -> 7 -> 3 (cuda-convnet rounds up: 16 -> 8 -> 4);
- initialisation N(0, 1 / fan_in) (LeCun's, derived for tanh) for every
  weight, biases 0, the same draws for both nets for the same seed (an
  "equivalent network"). ``init="paper"`` gives N(0, 0.01^2), the paper's
  (section 5; layers-18pct's stds amount to about that for unit-scale
  inputs), and ``init="he"`` N(0, 2 / fan_in): see RESULTS.md for what each
  did to this net.

Shapes: x (N, 3, 32, 32) float -> logits (N, 10). 85,098 parameters.
"""

from __future__ import annotations

import numpy as np

from ...backend import DEFAULT_DTYPE
from ...layers import Conv2D, Flatten, Linear, MaxPool, ReLU, Tanh

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
CONV_KERNELS = (32, 32, 64)
INITS = {"lecun": lambda fan_in: (1.0 / fan_in) ** 0.5, "he": lambda fan_in: (2.0 / fan_in) ** 0.5,
         "paper": lambda fan_in: 0.01}


class FourLayerNet:
    """conv-pool x 3, then one fully connected layer; ``params``/``grads`` keyed "conv1.W", "fc.b", ...

    ``forward(x, train)`` -> logits; ``backward(dlogits)`` fills ``grads`` (the input's gradient is dropped).
    """

    def __init__(self, activation: str = "relu", *, seed: int = 0, in_channels: int = 3, image_size: int = 32,
                 classes: int = 10, init: str = "lecun", dtype=DEFAULT_DTYPE):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        std = INITS[init]
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.named_layers: list[tuple[str, object]] = []
        channels, size = in_channels, image_size
        for index, kernels in enumerate(CONV_KERNELS, start=1):
            conv = Conv2D(channels, kernels, 5, pad=2, weight_std=std(channels * 25), rng=rng, dtype=dtype)
            pool = MaxPool(3, 2)
            self.named_layers += [(f"conv{index}", conv), (f"act{index}", ACTIVATIONS[activation]()),
                                  (f"pool{index}", pool)]
            channels, size = kernels, pool.output_shape((1, kernels, size, size))[2]
        features = channels * size * size
        fc = Linear(features, classes, weight_std=std(features), rng=rng, dtype=dtype)
        self.named_layers += [("flatten", Flatten()), ("fc", fc)]
        self.params = {f"{name}.{key}": value for name, layer in self.named_layers
                       for key, value in layer.params.items()}
        self.grads = {f"{name}.{key}": value for name, layer in self.named_layers
                      for key, value in layer.grads.items()}

    def forward(self, x, train: bool = True):
        for _, layer in self.named_layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dlogits) -> None:
        dy = dlogits
        for _, layer in reversed(self.named_layers):
            dy = layer.backward(dy)

    def num_params(self) -> int:
        return int(sum(value.size for value in self.params.values()))

    def __repr__(self) -> str:
        return " -> ".join(repr(layer) for _, layer in self.named_layers)
