"""The fast engine: the same layers, computed with less time and memory, beside the reference.

A model is built from the reference layers (``scratchnet/layers``) and, with
``engine="fast"`` (the default), ``accelerate`` then swaps each of them for
its fast twin, in one place:

- ``FastConv2D`` (``conv.py``): im2col by chunks of images in a workspace
  shared by one tower's convolutions, Winograd's F(2x2, 3x3) for 3x3
  stride-1 convolutions on the host, and no dx for the network's first layer;
- ``FastReLU``, ``FastLinear``, ``FastLRN``, ``FastMaxPool`` (``layers.py``):
  dx in memory kept across steps, ReLU in place after a Conv2D or Linear,
  Linear's GEMMs in the order BLAS runs fastest;
- the towers of a stage run side by side in two threads on the host, when
  the kernels may be called from two threads at once: decided here, once;
- ``FastSGD`` (``sgd.py``): the paper's update in one fused pass per parameter.

Both engines compute the same function and gradients (the tests hold them
equal to 1e-10 in float64 and 1e-5 in float32), so the engine is a choice of
speed, not part of a run's identity. ``SCRATCHNET_NUMBA=0`` changes only how
the kernels' loops run (``kernels/__init__.py``), in either engine.
"""

from __future__ import annotations

from .. import kernels
from ..layers import LRN, Conv2D, Linear, MaxPool, ReLU
from ..optim import SGD
from ..towers import TowerStage
from .conv import FastConv2D
from .layers import FastLayer, FastLinear, FastLRN, FastMaxPool, FastReLU
from .sgd import FastSGD
from .workspace import CHUNK_BYTES, Workspace

ENGINES = {
    "reference": "the layers as the lessons derive them: whole-batch im2col + GEMM, fresh memory, towers in turn",
    "fast": "chunked im2col in shared workspaces, Winograd for 3x3 convolutions, reused memory, towers side by side",
}
DEFAULT_ENGINE = "fast"

FAST_TWINS = {Conv2D: FastConv2D, Linear: FastLinear, ReLU: FastReLU, LRN: FastLRN, MaxPool: FastMaxPool}


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


def sgd_class(engine: str) -> type:
    """The optimiser of ``engine``: the reference ``SGD``, or ``FastSGD`` (the same update, fused)."""
    return FastSGD if check_engine(engine) == "fast" else SGD


def fast_twin(layer):
    """The fast engine's version of ``layer``, sharing its parameters; ``layer`` itself where there is none."""
    twin_class = FAST_TWINS.get(type(layer))
    return layer if twin_class is None else twin_class.twin_of(layer)


def towers_may_run_side_by_side() -> bool:
    """Whether two towers' threads may call the kernels at once (asked once, when a model is built)."""
    return kernels.threadsafe()


def accelerate(stages: list) -> None:
    """Swap the layers of every ``TowerStage`` in ``stages`` for their fast twins, in place, and set them up.

    Tower t's convolutions share one workspace (they run one after the other),
    and the towers have one each (they may run side by side). A ReLU right
    after a Conv2D or Linear overwrites that layer's fresh output. The first
    layer of the model computes no dL/dx.
    """
    workspaces: dict = {}
    side_by_side = towers_may_run_side_by_side()
    first_stage = True
    for stage in stages:
        if not isinstance(stage, TowerStage):
            continue
        for t, tower in enumerate(stage.towers):
            tower[:] = [(name, fast_twin(layer)) for name, layer in tower]
            for (_, before), (_, layer) in zip([(None, None)] + tower[:-1], tower):
                if isinstance(layer, FastConv2D):
                    layer.workspace = workspaces.setdefault(t, Workspace())
                if isinstance(layer, FastReLU):
                    layer.inplace = isinstance(before, (Conv2D, Linear))
            if first_stage and isinstance(tower[0][1], FastConv2D):
                tower[0][1].input_grad = False
        stage.concurrent = side_by_side
        first_stage = False


__all__ = ["ENGINES", "DEFAULT_ENGINE", "CHUNK_BYTES", "Workspace", "FastLayer", "FastConv2D", "FastLinear",
           "FastReLU", "FastLRN", "FastMaxPool", "FastSGD", "check_engine", "sgd_class", "fast_twin", "accelerate",
           "towers_may_run_side_by_side"]
