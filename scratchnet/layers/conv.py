"""2-D convolution as im2col + one GEMM per group."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE, get_array_module
from .. import kernels
from ..kernels import col2im, conv_output_size, im2col, winograd_input, winograd_output, winograd_weights
from ..kernels.winograd import tiles
from .base import Layer, check_shape, he_std, normal_init, resolve_rng
from .workspace import Workspace


class Conv2D(Layer):
    """Convolution over NCHW input with stride, zero padding and groups.

    Shapes::

        x     (N, C, H, W)
        W     (F, C // groups, k, k)       b (F,)
        y     (N, F, OH, OW)               OH = (H + 2 pad - k) // stride + 1

    With ``cols = im2col(x)`` of shape (C k k, N OH OW), group g computes

        y_g = W_g @ cols_g + b_g           W_g reshaped to (F/groups, C/groups k k)

    and the backward pass is

        dW_g = dy_g @ cols_g^T,  db = sum of dy over (N, OH, OW),
        dcols_g = W_g^T @ dy_g,  dx = col2im(dcols).

    Every column belongs to one image, so on the host both passes go through
    the batch a chunk of images at a time, with the chunk's columns in
    ``workspace`` (see ``workspace.py``); dW sums over the chunks. On a GPU
    the chunk is the whole batch (``Workspace.chunks``). The forward keeps x, not
    its k * k times larger columns, and the backward builds them again.

    A 3x3, stride-1 convolution on the compiled CPU path (conv3-5 in
    AlexNet) computes the same y, and the same dx, by Winograd's F(2x2, 3x3)
    instead: 0.44 of the multiply-adds (``kernels/winograd.py``). dx is then
    the convolution of dy by W' (each group's W transposed and rotated by
    180 degrees) with padding 2 - pad; dW is im2col's as above.

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
        # Shared by the layers of one tower (AlexNet sets it); a layer of its own otherwise.
        self.workspace = Workspace()
        # The first layer of a network has no use for dL/dx: skip its col2im.
        self.input_grad = True

    def __repr__(self) -> str:
        extra = f", groups={self.groups}" if self.groups > 1 else ""
        return f"Conv2D({self.in_ch}, {self.out_ch}, {self.kernel}, stride={self.stride}, pad={self.pad}{extra})"

    def output_shape(self, input_shape):
        n, _, h, w = input_shape
        return (n, self.out_ch,
                conv_output_size(h, self.kernel, self.stride, self.pad),
                conv_output_size(w, self.kernel, self.stride, self.pad))

    def forward(self, x, train=True):
        check_shape(self, x, f"(N, {self.in_ch}, H, W) (NCHW)", 4, axis=1, size=self.in_ch)
        self._check_dtype(x)
        n, f, oh, ow = self.output_shape(x.shape)
        if oh < 1 or ow < 1:
            raise ValueError(f"{self!r}: input {tuple(x.shape)} is smaller than the {self.kernel}x{self.kernel} kernel")
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)
        y = xp.empty((n, f, oh, ow), dtype=x.dtype)
        self._x = x if train else None
        if self._winograd_applies(x):
            return self._winograd(x, self.params["W"], self.pad, y, self._chunks(x), bias=self.params["b"])
        bias = self.params["b"][:, None]
        for start, stop in self._chunks(x):
            cols = self._im2col(x[start:stop])
            out = self.workspace.array("out", (f, cols.shape[1]), x.dtype, xp)
            for W_g, cols_g, out_g in zip(self._weight_groups(), self._row_groups(cols), self._row_groups(out)):
                xp.matmul(W_g, cols_g, out=out_g)
            out += bias
            y[start:stop] = out.reshape(f, stop - start, oh, ow).transpose(1, 0, 2, 3)
        return y

    def _winograd_applies(self, x) -> bool:
        return self.kernel == 3 and self.stride == 1 and self.pad <= 2 and kernels.compiled("winograd_input", x)

    def _winograd(self, x, W, pad: int, out, chunks, bias=None):
        """out = the stride-1 3x3 convolution of x by W (groups as self's), by Winograd's F(2x2, 3x3)
        (``kernels/winograd.py``): 16 GEMMs of (F/groups, C/groups) by (C/groups, tiles), 0.44 of im2col's
        multiply-adds. The forward's x and W, or the backward's dy and flipped W, over the batch ``chunks``."""
        xp = get_array_module(x)
        n, f, oh, ow = out.shape
        c = x.shape[1]
        U = winograd_weights(W)  # (4, 4, F, C/groups)
        f_group, c_group = f // self.groups, c // self.groups
        for start, stop in chunks:
            V = winograd_input(x[start:stop], pad, out=self.workspace.array(
                "winograd_in", (4, 4, c, (stop - start) * tiles(oh) * tiles(ow)), x.dtype, xp))
            M = self.workspace.array("winograd_out", (4, 4, f, V.shape[3]), x.dtype, xp)
            for a in range(4):
                for b in range(4):
                    for g in range(self.groups):
                        xp.matmul(U[a, b, g * f_group:(g + 1) * f_group], V[a, b, g * c_group:(g + 1) * c_group],
                                  out=M[a, b, g * f_group:(g + 1) * f_group])
            chunk = winograd_output(M, stop - start, oh, ow, out=out[start:stop])
            if bias is not None:
                chunk += bias[:, None, None]
        return out

    def _flipped_weights(self):
        """W' (C, F/groups, 3, 3) with dx = conv(dy, W', pad 2 - pad): each group's W transposed, rotated 180°."""
        W = self.params["W"]
        f_group = self.out_ch // self.groups
        return W.reshape(self.groups, f_group, -1, 3, 3).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(
            self.in_ch, f_group, 3, 3)

    def backward(self, dy):
        if self._x is None:
            raise RuntimeError(f"{self!r}: backward() needs a forward(train=True) first")
        x, self._x = self._x, None
        xp = get_array_module(dy)
        n, f, oh, ow = dy.shape
        self.grads["b"][...] = dy.sum(axis=(0, 2, 3))
        dW = self.grads["W"].reshape(self.groups, f // self.groups, -1)
        dx = self.dx_buffer(x.shape, dy.dtype, xp) if self.input_grad else None
        # dx by Winograd, after the loop, where it applies; by dcols and col2im inside it otherwise.
        winograd_dx = self.input_grad and self._winograd_applies(dy)
        columns_dx = self.input_grad and not winograd_dx
        chunks = self._chunks(x)
        for chunk, (start, stop) in enumerate(chunks):
            cols = self._im2col(x[start:stop])
            dy_rows = self.workspace.array("dy_rows", (f, cols.shape[1]), dy.dtype, xp)
            dy_rows.reshape(f, stop - start, oh, ow)[...] = dy[start:stop].transpose(1, 0, 2, 3)
            dcols = self.workspace.array("dcols", cols.shape, dy.dtype, xp) if columns_dx else None
            for g, (W_g, cols_g, dy_g) in enumerate(zip(
                    self._weight_groups(), self._row_groups(cols), self._row_groups(dy_rows))):
                # dW_g^T = cols_g @ dy_g^T: OpenBLAS runs this shape (long inner axis as the
                # rows of a C-ordered operand) several times faster than dy_g @ cols_g^T.
                dW_chunk = self.workspace.array("dW_chunk", (cols_g.shape[0], f // self.groups), dy.dtype, xp)
                xp.matmul(cols_g, dy_g.T, out=dW_chunk)
                if chunk:
                    dW[g] += dW_chunk.T
                else:
                    dW[g][...] = dW_chunk.T
                if columns_dx:
                    xp.matmul(W_g.T, dy_g, out=self._row_groups(dcols)[g])
            if columns_dx:
                col2im(dcols, (stop - start, *x.shape[1:]), self.kernel, self.stride, self.pad, out=dx[start:stop])
        if winograd_dx:
            self._winograd(xp.ascontiguousarray(dy), self._flipped_weights(), 2 - self.pad, dx, chunks)
        return dx

    def _chunks(self, x):
        _, _, oh, ow = self.output_shape(x.shape)
        return self.workspace.chunks(x.shape[0], self.in_ch * self.kernel**2 * oh * ow * x.dtype.itemsize,
                                     get_array_module(x))

    def _im2col(self, x):
        n, _, oh, ow = self.output_shape(x.shape)
        k = self.kernel
        xp = get_array_module(x)
        return im2col(x, k, self.stride, self.pad,
                      out=self.workspace.array("cols", (self.in_ch * k * k, n * oh * ow), x.dtype, xp))

    def _weight_groups(self):
        W = self.params["W"].reshape(self.groups, self.out_ch // self.groups, -1)
        return [W[g] for g in range(self.groups)]

    def _row_groups(self, rows):
        step = rows.shape[0] // self.groups
        return [rows[g * step:(g + 1) * step] for g in range(self.groups)]
