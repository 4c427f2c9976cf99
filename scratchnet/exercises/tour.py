"""Lesson 01: the parameters and multiply-adds of one convolution."""

from __future__ import annotations

from ..layers import Conv2D
from ..models.summary import multiply_adds
from .core import Case, Exercise, Mistake, register


def _reference(C, F, k, stride, pad, groups, n):
    layer = Conv2D(C, F, k, stride=stride, pad=pad, groups=groups, rng=0)
    params = sum(value.size for value in layer.params.values())
    return params, multiply_adds(layer, layer.output_shape((1, C, n, n)))


def _cases():
    return [Case("conv1: 3 -> 96, 11x11 stride 4, on 227x227", (3, 96, 11, 4, 0, 1, 227)),
            Case("conv2: 96 -> 256, 5x5 pad 2, groups 2, on 27x27", (96, 256, 5, 1, 2, 2, 27)),
            Case("conv4: 384 -> 384, 3x3 pad 1, groups 2, on 13x13", (384, 384, 3, 1, 1, 2, 13)),
            Case("4 -> 6, 3x3 stride 2 pad 1, groups 2, on 9x9", (4, 6, 3, 2, 1, 2, 9))]


def _out(n, k, stride, pad):
    return (n + 2 * pad - k) // stride + 1


def _no_groups(C, F, k, stride, pad, groups, n):
    return F * C * k * k + F, F * _out(n, k, stride, pad) ** 2 * C * k * k


def _no_bias(C, F, k, stride, pad, groups, n):
    return F * (C // groups) * k * k, F * _out(n, k, stride, pad) ** 2 * (C // groups) * k * k


def _input_side(C, F, k, stride, pad, groups, n):
    return F * (C // groups) * k * k + F, F * n * n * (C // groups) * k * k


register(Exercise(
    name="conv_cost", lesson="01_tour",
    signature="conv_cost(C, F, k, stride, pad, groups, n) -> (parameters, multiply-adds per image) "
              "of a convolution on an n x n input",
    cases=_cases, reference=_reference, returns=("parameters", "multiply-adds"),
    mistakes=(Mistake("with groups g each kernel is only C/g channels deep: divide C by groups, in the parameters "
                      "and in the multiply-adds.", _no_groups),
              Mistake("each of the F kernels also has a bias: add F to the parameters.", _no_bias),
              Mistake("a convolution does one dot product per *output* position: use the output side "
                      "(n + 2 pad - k) // stride + 1, not the input side n.", _input_side)),
))
