"""The Layer contract shared by every layer.

    layer.params   dict name -> array ("W", "b"); empty for parameter-free layers
    layer.grads    same keys, filled by backward
    y  = layer.forward(x, train=True)
    dx = layer.backward(dy)

A layer keeps from its forward exactly what its backward needs (only when
``train=True``; nothing at test time), sets that saved state to None in
``__init__``, and never changes the dtype it is given. A backward without a
training forward before it raises the same RuntimeError in every layer
(``saved``). Scratch memory kept across steps belongs to the fast engine
(``scratchnet/fast``), not to these layers.
"""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE, Device, get_array_module


class Layer:
    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, train: bool = True):
        return self.forward(x, train)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def output_shape(self, input_shape: tuple) -> tuple:
        """Shape of the output for an input of ``input_shape`` (batch axis included)."""
        return tuple(input_shape)

    def to(self, device: Device) -> "Layer":
        """Move parameters and gradients to ``device`` (an explicit transfer)."""
        self.params = {name: device.put(value) for name, value in self.params.items()}
        self.grads = {name: device.put(value) for name, value in self.grads.items()}
        return self

    def astype(self, dtype) -> "Layer":
        """Cast parameters and gradients, e.g. to float64 for gradient checks."""
        self.params = {name: value.astype(dtype) for name, value in self.params.items()}
        self.grads = {name: value.astype(dtype) for name, value in self.grads.items()}
        return self

    def saved(self, state):
        """``state`` as the last forward(train=True) kept it; the contract's RuntimeError if there was none."""
        if state is None:
            raise RuntimeError(f"{self!r}: backward() needs a forward(train=True) first")
        return state

    def _init_grads(self) -> None:
        self.grads = {name: get_array_module(value).zeros_like(value) for name, value in self.params.items()}

    def _check_dtype(self, x) -> None:
        for name, value in self.params.items():
            if value.dtype != x.dtype:
                raise ValueError(
                    f"{self!r}: input dtype {x.dtype} differs from parameter {name} dtype {value.dtype}; "
                    f"cast the layer with .astype({x.dtype}) or the input with .astype({value.dtype})"
                )


def check_shape(layer: Layer, x, expected: str, ndim: int, axis: int | None = None, size: int | None = None) -> None:
    """Raise ValueError naming the layer, the expected and the given shape."""
    shape = tuple(getattr(x, "shape", ()))
    wrong_rank = len(shape) != ndim
    wrong_size = not wrong_rank and axis is not None and shape[axis] != size
    if wrong_rank or wrong_size:
        raise ValueError(f"{layer!r}: expected input of shape {expected}, got {shape}")


def normal_init(rng: np.random.Generator, shape: tuple, std: float, dtype) -> np.ndarray:
    """Weights drawn from N(0, std^2) on the host, in ``dtype``."""
    return (rng.standard_normal(shape) * std).astype(dtype)


def resolve_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def he_std(fan_in: int) -> float:
    """sqrt(2 / fan_in): keeps ReLU activations' variance from layer to layer."""
    return float(np.sqrt(2.0 / fan_in))


__all__ = ["Layer", "check_shape", "normal_init", "resolve_rng", "he_std", "DEFAULT_DTYPE"]
