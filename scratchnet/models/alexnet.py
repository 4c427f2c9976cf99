"""AlexNet built from ScratchNet's layers, as one or two towers (paper, Figure 2).

With two towers, each tower holds half of conv1, conv2, conv4, conv5, fc6 and
fc7 and sees only its own maps; conv3, fc6, fc7 and fc8 read both towers'
outputs through an ``Exchange``. fc8 is one layer on tower 1's device. With
one tower the same connectivity is kept on one device by ``groups=2``
convolutions in conv2, conv4 and conv5 (Caffe's AlexNet); ``groups=1`` drops
the split altogether.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import fast
from ..backend import DEFAULT_DTYPE, Device, to_host
from ..kernels import conv_output_size
from ..layers import LRN, Conv2D, Dropout, Flatten, Linear, MaxPool, ReLU, Tanh
from ..towers import Exchange, TowerStage
from .config import AlexNetConfig, make_config

# Layers whose bias starts at 1 under the paper's init (section 5): it
# gives the ReLUs positive inputs early on. Caffe's bvlc_alexnet starts the
# same layers at 0.1 ("initialization to 1 gave flat loss") and halves the
# weights' spread in fc6 and fc7.
PAPER_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")
PAPER_WEIGHT_STD = 0.01
CAFFE_BIAS = 0.1
CAFFE_FC_STD = {"fc6": 0.005, "fc7": 0.005}
# "he-conv": He's spread keeps the convolutions' signal at unit scale, and
# Caffe's small dense layers keep fc8's step on the logits, lr * |h7|^2,
# from blowing up (lesson 12).
HE_CONV_DENSE_STD = {"fc6": 0.005, "fc7": 0.005, "fc8": 0.01}


def initial_values(init: str, name: str) -> dict:
    """Conv2D/Linear keyword arguments of layer ``name`` under ``init`` (see models.config.INITS)."""
    if init == "paper":
        return {"weight_std": PAPER_WEIGHT_STD, "bias": 1.0 if name in PAPER_BIAS_ONE else 0.0}
    if init == "caffe":
        return {"weight_std": CAFFE_FC_STD.get(name, PAPER_WEIGHT_STD),
                "bias": CAFFE_BIAS if name in PAPER_BIAS_ONE else 0.0}
    if init == "he-conv":
        return {"weight_std": HE_CONV_DENSE_STD.get(name), "bias": 0.0}
    return {"weight_std": None, "bias": 0.0}


class AlexNet:
    """forward(x, train) -> logits; backward(dlogits); named params() and grads().

    ``engine``: "reference" runs the layers as ``scratchnet/layers`` writes
    them; "fast" (the default) swaps them for the fast engine's, which compute
    the same numbers (``scratchnet/fast``). Built from the same seed, both
    hold the same weights.
    """

    def __init__(self, config: AlexNetConfig, devices: list[Device], seed: int, dtype,
                 engine: str = fast.DEFAULT_ENGINE):
        self.config = config
        self.devices = devices
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.engine = fast.check_engine(engine)
        self.stages = build_stages(config, devices, seed, self.dtype)
        if engine == "fast":  # every engine setting, in one place
            fast.accelerate(self.stages)
        self.exchanges = [stage for stage in self.stages if isinstance(stage, Exchange)]
        self.reseed_dropout(0)

    def __repr__(self) -> str:
        return f"AlexNet({self.config.name!r}, towers={self.config.towers}, devices={[d.name for d in self.devices]})"

    # -- running -------------------------------------------------------------

    def forward(self, x, train: bool = True):
        """x (N, C, S, S) on any device -> logits (N, classes) on tower 1's device."""
        c, size = self.config.in_channels, self.config.input_size
        if getattr(x, "ndim", None) != 4 or tuple(x.shape[1:]) != (c, size, size):
            raise ValueError(f"{self!r}: expected input of shape (N, {c}, {size}, {size}) (NCHW), "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        placed = {}  # one copy per device: two towers on one GPU share it
        for device in self.devices:
            if device not in placed:
                placed[device] = device.put(x)
        xs = [placed[device] for device in self.devices]
        for stage in self.stages:
            xs = stage.forward(xs, train)
        return xs[0]

    def backward(self, dlogits) -> None:
        """Fill every layer's grads from dL/dlogits (N, classes). conv1 skips dL/dx."""
        dys = [dlogits]
        for stage in reversed(self.stages):
            dys = stage.backward(dys)

    def reseed_dropout(self, step: int, sample_offset: int = 0) -> None:
        """Draw the dropout masks of step ``step`` per sample from (seed, step, layer, sample index).

        A resumed run redraws them exactly, and a data-parallel worker whose
        share of the global batch starts at ``sample_offset`` draws the same
        rows a single worker would for those samples.
        """
        for index, (_, layer) in enumerate(self.layers()):
            if isinstance(layer, Dropout):
                layer.reseed_per_sample((self.seed, step, index), sample_offset)

    @property
    def concurrent_towers(self) -> bool:
        """Whether the towers may run side by side on the host (see ``TowerStage``); set it to change that.

        Only the fast engine runs them side by side, and only where the kernels
        allow two threads at once (``fast.towers_may_run_side_by_side``).
        """
        return all(stage.concurrent for stage in self.stages if isinstance(stage, TowerStage))

    @concurrent_towers.setter
    def concurrent_towers(self, enabled: bool) -> None:
        allowed = enabled and self.engine == "fast" and fast.towers_may_run_side_by_side()
        for stage in self.stages:
            if isinstance(stage, TowerStage):
                stage.concurrent = allowed

    # -- parameters ----------------------------------------------------------

    def layers(self):
        """(name, layer) for every layer, stage by stage, tower by tower."""
        for stage in self.stages:
            if isinstance(stage, TowerStage):
                for tower in stage.towers:
                    yield from tower

    def params(self) -> dict:
        return {f"{name}.{key}": value for name, layer in self.layers() for key, value in layer.params.items()}

    def grads(self) -> dict:
        return {f"{name}.{key}": value for name, layer in self.layers() for key, value in layer.grads.items()}

    def num_params(self) -> int:
        return int(sum(value.size for value in self.params().values()))

    def state_dict(self) -> dict:
        """Parameters as host NumPy arrays (copies), keyed by name."""
        return {name: np.array(to_host(value)) for name, value in self.params().items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` (host or device arrays) into the parameters, each onto its layer's device."""
        own = self.params()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state does not fit {self!r}: missing {missing[:5]}, unexpected {unexpected[:5]}")
        for name, value in own.items():
            if tuple(state[name].shape) != tuple(value.shape):
                raise ValueError(f"state does not fit {self!r}: {name} has shape {tuple(state[name].shape)}, "
                                 f"the model's is {tuple(value.shape)}")
        for (layer_name, layer), device in self._layers_with_devices():
            with device:  # allocations land on the current device under CuPy
                for key, value in layer.params.items():
                    # In place: an optimiser holds references to these very arrays.
                    value[...] = device.put(state[f"{layer_name}.{key}"])

    def astype(self, dtype) -> "AlexNet":
        self.dtype = np.dtype(dtype)
        for (_, layer), device in self._layers_with_devices():
            with device:
                layer.astype(dtype)
        return self

    def _layers_with_devices(self):
        for stage in self.stages:
            if isinstance(stage, TowerStage):
                for tower, device in zip(stage.towers, stage.devices):
                    for entry in tower:
                        yield entry, device

    def reset_exchange_counters(self) -> None:
        for exchange in self.exchanges:
            exchange.reset_counters()


def alexnet(config: str | AlexNetConfig = "cifar", *, devices: list[Device] | None = None, seed: int = 0,
            dtype=DEFAULT_DTYPE, engine: str = fast.DEFAULT_ENGINE, **options) -> AlexNet:
    """Build AlexNet: ``config`` is "paper", "cifar", "tiny" or an AlexNetConfig.

    ``options`` override the configuration (activation, lrn, pool, towers,
    groups, conv_width, num_classes, dropout, init, ...). ``devices`` has one
    Device per tower (default: the host for each). ``engine`` is "fast" or
    "reference" (``fast.ENGINES``): the same function either way.
    """
    config = make_config(config, **options)
    if devices is None:
        devices = [Device.host() for _ in range(config.towers)]
    if len(devices) != config.towers:
        raise ValueError(f"AlexNet {config.name!r} has {config.towers} tower(s) but {len(devices)} device(s) were given")
    return AlexNet(config, devices, seed, dtype, engine)


def figure2(config: AlexNetConfig) -> list:
    """The paper's Figure 2, top to bottom: what one tower computes, and where the towers exchange.

    Rows are ``("towers", [(name, make), ...])``, a stage each tower runs on
    its own maps (``make(name, rngs, dtype)`` builds the layer, a layer with
    weights drawing them from ``next(rngs)``), ``("exchange", name)``, where
    the next layer reads both towers, and ``("fc8", ...)``, the one layer on
    tower 1's device. Widths are per tower.
    """
    towers = config.towers
    c1, c2, c3, c4, c5 = (c // towers for c in config.channels())
    fc = config.fc_width // towers
    split = config.groups if towers == 1 else 1  # one device: groups=2 keeps the two towers' connectivity
    pool = (3, 2) if config.pool == "overlap" else (2, 2)

    def conv(cin, cout, geometry, groups=1):
        return lambda name, rngs, dtype: Conv2D(cin, cout, *geometry, groups, rng=next(rngs), dtype=dtype,
                                                **initial_values(config.init, name))

    def dense(fin, fout):
        return lambda name, rngs, dtype: Linear(fin, fout, rng=next(rngs), dtype=dtype,
                                                **initial_values(config.init, name))

    def layer(kind, *args):
        return lambda name, rngs, dtype: kind(*args)

    act = layer(ReLU) if config.activation == "relu" else layer(Tanh)
    lrn = (lambda name: [(name, layer(LRN, 5, 1e-4, 0.75, 2.0, split))]) if config.lrn else (lambda name: [])
    flat = c5 * _pool5_size(config) ** 2
    return [
        ("towers", [("conv1", conv(config.in_channels, c1, config.conv1)), ("act1", act), *lrn("lrn1"),
                    ("pool1", layer(MaxPool, *pool)),
                    ("conv2", conv(c1, c2, config.conv2, split)), ("act2", act), *lrn("lrn2"),
                    ("pool2", layer(MaxPool, *pool))]),
        ("exchange", "conv3"),
        ("towers", [("conv3", conv(c2 * towers, c3, config.conv345)), ("act3", act),
                    ("conv4", conv(c3, c4, config.conv345, split)), ("act4", act),
                    ("conv5", conv(c4, c5, config.conv345, split)), ("act5", act),
                    ("pool5", layer(MaxPool, *pool)), ("flatten", layer(Flatten))]),
        ("exchange", "fc6"),
        ("towers", [("fc6", dense(flat * towers, fc)), ("act6", act), ("drop6", layer(Dropout, config.dropout))]),
        ("exchange", "fc7"),
        ("towers", [("fc7", dense(fc * towers, fc)), ("act7", act), ("drop7", layer(Dropout, config.dropout))]),
        ("exchange", "fc8"),
        ("fc8", [("fc8", dense(fc * towers, config.num_classes))]),
    ]


def _pool5_size(config: AlexNetConfig) -> int:
    """Height (= width) of pool5's maps: conv1, pool, conv2, pool, conv3-5, pool on the input's size."""
    pool = (3, 2, 0) if config.pool == "overlap" else (2, 2, 0)
    size = config.input_size
    for kernel, stride, pad in (config.conv1, pool, config.conv2, pool, *[config.conv345] * 3, pool):
        size = conv_output_size(size, kernel, stride, pad)
        if size < 1:
            raise ValueError(f"AlexNet {config.name!r}: input {config.input_size} is too small for its layers")
    return size


def build_stages(config: AlexNetConfig, devices: list[Device], seed: int, dtype) -> list:
    """``figure2(config)`` built: a TowerStage per "towers" row (layer by layer, tower by tower), an Exchange per
    "exchange" row. The i-th layer with weights draws them from the generator seeded by [seed, i]."""
    rngs = (np.random.default_rng([seed, i]) for i in itertools.count())
    stages = []
    for kind, what in figure2(config):
        if kind == "exchange":
            stages.append(Exchange(what, devices, devices if what != "fc8" else devices[:1]))
            continue
        stage_devices = devices if kind == "towers" else devices[:1]
        built = []
        for t, device in enumerate(stage_devices):
            tower = []
            for name, make in what:
                layer = make(name, rngs, dtype)
                tower.append((f"{name}.tower{t + 1}" if kind == "towers" and len(devices) == 2 else name,
                              layer.to(device)))
            built.append(tower)
        stages.append(TowerStage(built, stage_devices))
    return stages


def convert_state(state: dict, towers: int) -> dict:
    """Re-lay a state dict from one tower layout to the other (same weights, same function).

    Tower t holds slice t of each split layer's outputs: axis 0 of a
    convolution's W (F, C, k, k) and of every b, axis 1 of a dense W (in, out).
    fc8 is never split.
    """
    def out_axis(key, value):
        return 1 if key.endswith(".W") and value.ndim == 2 else 0

    converted = {}
    if towers == 2:
        for key, value in state.items():
            layer, param = key.rsplit(".", 1)
            if ".tower" in layer or layer == "fc8":
                converted[key] = value
                continue
            for t, part in enumerate(np.split(value, 2, axis=out_axis(key, value))):
                converted[f"{layer}.tower{t + 1}.{param}"] = part
        return converted
    for key, value in state.items():
        if ".tower2." in key:
            continue
        if ".tower1." not in key:
            converted[key] = value
            continue
        other = state[key.replace(".tower1.", ".tower2.")]
        converted[key.replace(".tower1.", ".")] = np.concatenate([value, other], axis=out_axis(key, value))
    return converted
