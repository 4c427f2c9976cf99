"""2-D convolution as im2col + one GEMM per group (the reference; ``scratchnet/fast`` has the fast engine's)."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE, get_array_module
from ..kernels import col2im, conv_output_size, im2col
from .base import Layer, check_shape, he_std, normal_init, resolve_rng


class Conv2D(Layer):
    """Convolution over NCHW input with stride, zero padding and groups.

    Shapes::

        x     (N, C, H, W)
        W     (F, C // groups, k, k)       b (F,)
        y     (N, F, OH, OW)               OH = (H + 2 pad - k) // stride + 1

    With ``cols = im2col(x)`` of shape (C k k, N OH OW), group g computes

        y_g = W_g @ cols_g + b_g           W_g reshaped to (F/groups, C/groups k k)

    and the backward pass, with dy_g the rows of dy reshaped to (F/groups, N OH OW),

        dW_g = dy_g @ cols_g^T,  db = sum of dy over (N, OH, OW),
        dcols_g = W_g^T @ dy_g,  dx = col2im(dcols).

    The forward keeps x, not its k * k times larger columns; the backward
    builds them again.

    Init: N(0, weight_std^2), He's sqrt(2 / fan_in) when ``weight_std`` is None.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, pad: int = 0, groups: int = 1,
                 *, weight_std: float | None = None, bias: float = 0.0, rng=None, dtype=DEFAULT_DTYPE):
        super().__init__()
        if min(in_ch, out_ch, kernel, stride, groups) < 1 or pad < 0:
            raise ValueError(f"Conv2D: channels, kernel, stride and groups must be positive and pad >= 0; got "
                             f"in_ch={in_ch}, out_ch={out_ch}, kernel={kernel}, stride={stride}, pad={pad}, groups={groups}")
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"Conv2D: in_ch={in_ch} and out_ch={out_ch} must both divide by groups={groups}")
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel
        self.stride, self.pad, self.groups = stride, pad, groups
        fan_in = in_ch // groups * kernel * kernel
        std = he_std(fan_in) if weight_std is None else weight_std
        rng = resolve_rng(rng)
        self.params["W"] = normal_init(rng, (out_ch, in_ch // groups, kernel, kernel), std, dtype)
        self.params["b"] = np.full(out_ch, bias, dtype=dtype)
        self._init_grads()
        self._x = None

    def __repr__(self) -> str:
        extra = f", groups={self.groups}" if self.groups > 1 else ""
        return f"Conv2D({self.in_ch}, {self.out_ch}, {self.kernel}, stride={self.stride}, pad={self.pad}{extra})"

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        return (n, self.out_ch,
                conv_output_size(h, self.kernel, self.stride, self.pad),
                conv_output_size(w, self.kernel, self.stride, self.pad))

    def check_input(self, x) -> tuple:
        """The output shape for ``x``, once x is NCHW with in_ch channels, the parameters' dtype and no smaller than k."""
        check_shape(self, x, f"(N, {self.in_ch}, H, W) (NCHW)", 4, axis=1, size=self.in_ch)
        self._check_dtype(x)
        shape = self.output_shape(x.shape)
        if shape[2] < 1 or shape[3] < 1:
            raise ValueError(f"{self!r}: input {tuple(x.shape)} is smaller than the {self.kernel}x{self.kernel} kernel")
        return shape

    def forward(self, x, train=True):
        n, f, oh, ow = self.check_input(x)
        xp = get_array_module(x)
        cols = im2col(x, self.kernel, self.stride, self.pad)                        # (C k k, N OH OW)
        y = xp.concatenate([W_g @ cols_g for W_g, cols_g in zip(self.weight_groups(), self.row_groups(cols))])
        y += self.params["b"][:, None]                                              # (F, N OH OW)
        self._x = x if train else None
        return xp.ascontiguousarray(y.reshape(f, n, oh, ow).transpose(1, 0, 2, 3))

    def backward(self, dy):
        x = self.saved(self._x)
        self._x = None
        xp = get_array_module(dy)
        f = dy.shape[1]
        dy_rows = dy.transpose(1, 0, 2, 3).reshape(f, -1)                           # (F, N OH OW)
        cols = im2col(x, self.kernel, self.stride, self.pad)
        W_groups, cols_groups, dy_groups = self.weight_groups(), self.row_groups(cols), self.row_groups(dy_rows)
        self.grads["W"][...] = xp.concatenate(
            [dy_g @ cols_g.T for dy_g, cols_g in zip(dy_groups, cols_groups)]).reshape(self.params["W"].shape)
        self.grads["b"][...] = dy.sum(axis=(0, 2, 3))
        dcols = xp.concatenate([W_g.T @ dy_g for W_g, dy_g in zip(W_groups, dy_groups)])
        return col2im(dcols, x.shape, self.kernel, self.stride, self.pad)

    def weight_groups(self) -> list:
        """W as ``groups`` matrices W_g of shape (F/groups, C/groups k k)."""
        W = self.params["W"].reshape(self.groups, self.out_ch // self.groups, -1)
        return [W[g] for g in range(self.groups)]

    def row_groups(self, rows) -> list:
        """The ``groups`` equal blocks of rows of ``rows``: group g's columns, dy rows or dcols."""
        step = rows.shape[0] // self.groups
        return [rows[g * step:(g + 1) * step] for g in range(self.groups)]
