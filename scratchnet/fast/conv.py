"""The fast engine's convolution: the reference's im2col + GEMM, a chunk of images at a time, and Winograd.

``FastConv2D`` computes what ``layers/conv.py``'s ``Conv2D`` does (the tests
hold them equal) with three changes:

- both passes go through the batch a chunk of images at a time, with the
  chunk's columns in a ``Workspace`` that the convolutions of one tower
  share (``workspace.py``); dW sums over the chunks. On a GPU the chunk is
  the whole batch (``Workspace.chunks``);
- a 3x3, stride-1 convolution on the host (conv3-5 in AlexNet) computes y,
  dx and dW by Winograd's F(2x2, 3x3) instead (``winograd``, on by
  default): 0.44 of the multiply-adds (``kernels/winograd.py``). dx is then
  the convolution of dy by W' (each group's W transposed and rotated by 180
  degrees) with padding 2 - pad; dW runs the forward's steps by their
  adjoints, on maps of at least ``WINOGRAD_DW_MIN_SIDE`` a side. Its
  chunks are larger than im2col's (``WINOGRAD_BYTES``): its GEMMs take a
  chunk's tiles as an axis. The transforms run compiled, or as their NumPy
  reference with ``SCRATCHNET_NUMBA=0``: the same algorithm either way;
- dx goes into memory kept across steps, and a network's first layer, which
  has no use for dL/dx, skips it (``input_grad = False``).
"""

from __future__ import annotations

from ..backend import get_array_module, is_host_array
from ..kernels import (
    col2im,
    im2col,
    winograd_input,
    winograd_output,
    winograd_output_grad,
    winograd_weights,
    winograd_weights_grad,
)
from ..kernels.winograd import tiles
from ..layers import Conv2D
from .layers import FastLayer
from .workspace import WINOGRAD_BYTES, Workspace

# dW by Winograd on maps at least this many pixels on a side: faster than
# im2col's on AlexNet's 13 x 13, not on the cifar model's 7 x 7, whose tiles
# overhang most (benchmarks/README.md).
WINOGRAD_DW_MIN_SIDE = 12


class FastConv2D(FastLayer, Conv2D):
    """Conv2D by chunks of images in a shared workspace, by Winograd where it applies (see the module)."""

    def setup_fast(self) -> None:
        # Shared by the layers of one tower (the engine sets it); a workspace of its own otherwise.
        self.workspace = Workspace()
        self.input_grad = True
        self.winograd = True

    def forward(self, x, train=True):
        n, f, oh, ow = self.check_input(x)
        xp = get_array_module(x)
        x = xp.ascontiguousarray(x)
        y = xp.empty((n, f, oh, ow), dtype=x.dtype)
        self._x = x if train else None
        if self.winograd_applies(x):
            return self._winograd(x, self.params["W"], self.pad, y, bias=self.params["b"])
        bias = self.params["b"][:, None]
        for start, stop in self._chunks(x):
            cols = self._im2col(x[start:stop])
            out = self.workspace.array("out", (f, cols.shape[1]), x.dtype, xp)
            for W_g, cols_g, out_g in zip(self.weight_groups(), self.row_groups(cols), self.row_groups(out)):
                xp.matmul(W_g, cols_g, out=out_g)
            out += bias
            y[start:stop] = out.reshape(f, stop - start, oh, ow).transpose(1, 0, 2, 3)
        return y

    def backward(self, dy):
        x = self.saved(self._x)
        self._x = None
        xp = get_array_module(dy)
        self.grads["b"][...] = dy.sum(axis=(0, 2, 3))
        dx = self.dx_memory(x.shape, dy.dtype, xp) if self.input_grad else None
        winograd = self.winograd_applies(dy)
        dy = xp.ascontiguousarray(dy) if winograd else dy
        if winograd and min(dy.shape[2:]) >= WINOGRAD_DW_MIN_SIDE:
            self._winograd_weight_grad(x, dy)
        else:  # dW by im2col, and dx by col2im where Winograd does not apply
            for chunk, (start, stop) in enumerate(self._chunks(x)):
                self._backward_chunk(x[start:stop], dy[start:stop], chunk > 0,
                                     None if dx is None or winograd else dx[start:stop])
        if winograd and dx is not None:
            self._winograd(dy, self._flipped_weights(), 2 - self.pad, dx)
        return dx

    def _backward_chunk(self, x, dy, accumulate: bool, dx) -> None:
        """Add this chunk's dW to grads["W"] (or set it, for the first chunk), and write its dx when one is given."""
        xp = get_array_module(dy)
        n, f, oh, ow = dy.shape
        dW = self.grads["W"].reshape(self.groups, f // self.groups, -1)
        cols = self._im2col(x)
        dy_rows = self.workspace.array("dy_rows", (f, cols.shape[1]), dy.dtype, xp)
        dy_rows.reshape(f, n, oh, ow)[...] = dy.transpose(1, 0, 2, 3)
        dcols = self.workspace.array("dcols", cols.shape, dy.dtype, xp) if dx is not None else None
        for g, (W_g, cols_g, dy_g) in enumerate(zip(
                self.weight_groups(), self.row_groups(cols), self.row_groups(dy_rows))):
            # dW_g^T = cols_g @ dy_g^T: OpenBLAS runs this shape (long inner axis as the
            # rows of a C-ordered operand) several times faster than dy_g @ cols_g^T.
            dW_chunk = self.workspace.array("dW_chunk", (cols_g.shape[0], f // self.groups), dy.dtype, xp)
            xp.matmul(cols_g, dy_g.T, out=dW_chunk)
            if accumulate:
                dW[g] += dW_chunk.T
            else:
                dW[g][...] = dW_chunk.T
            if dx is not None:
                xp.matmul(W_g.T, dy_g, out=self.row_groups(dcols)[g])
        if dx is not None:
            col2im(dcols, x.shape, self.kernel, self.stride, self.pad, out=dx)

    def winograd_applies(self, x) -> bool:
        """Winograd for a 3x3, stride-1 convolution on the host (on a GPU: one GEMM per group, fewer launches)."""
        return self.winograd and self.kernel == 3 and self.stride == 1 and self.pad <= 2 and is_host_array(x)

    def _winograd(self, x, W, pad: int, out, bias=None):
        """out = the stride-1 3x3 convolution of x by W (groups as self's), by Winograd's F(2x2, 3x3)
        (``kernels/winograd.py``): 16 GEMMs of (F/groups, C/groups) by (C/groups, tiles), 0.44 of im2col's
        multiply-adds. The forward's x and W, or the backward's dy and flipped W."""
        xp = get_array_module(x)
        n, f, oh, ow = out.shape
        c = x.shape[1]
        U = winograd_weights(W)  # (4, 4, F, C/groups)
        f_group, c_group = f // self.groups, c // self.groups
        for start, stop in self._winograd_chunks(n, c, f, oh, ow, x):
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

    def _winograd_weight_grad(self, x, dy) -> None:
        """grads["W"] by Winograd: dU[a, b] = dM[a, b] @ V[a, b]^T summed over the chunks, then dW = G^T dU G
        (``kernels/winograd.py``); V from the saved input, dM from dy's tiles."""
        xp = get_array_module(dy)
        n, f, oh, ow = dy.shape
        c = x.shape[1]
        f_group, c_group = f // self.groups, c // self.groups
        dU = xp.zeros((4, 4, f, c_group), dtype=dy.dtype)
        for start, stop in self._winograd_chunks(n, c, f, oh, ow, dy):
            size = (stop - start) * tiles(oh) * tiles(ow)
            V = winograd_input(x[start:stop], self.pad,
                               out=self.workspace.array("winograd_in", (4, 4, c, size), x.dtype, xp))
            dM = winograd_output_grad(dy[start:stop],
                                      out=self.workspace.array("winograd_out", (4, 4, f, size), dy.dtype, xp))
            # dU^T = V dM^T: the long tile axis as the rows of a C-ordered operand, as in _backward_chunk.
            part = self.workspace.array("winograd_dU", (c_group, f_group), dy.dtype, xp)
            for a in range(4):
                for b in range(4):
                    for g in range(self.groups):
                        rows, cols = slice(g * f_group, (g + 1) * f_group), slice(g * c_group, (g + 1) * c_group)
                        xp.matmul(V[a, b, cols], dM[a, b, rows].T, out=part)
                        dU[a, b, rows] += part.T
        self.grads["W"][...] = winograd_weights_grad(dU)

    def _flipped_weights(self):
        """W' (C, F/groups, 3, 3) with dx = conv(dy, W', pad 2 - pad): each group's W transposed, rotated 180°."""
        W = self.params["W"]
        f_group = self.out_ch // self.groups
        return W.reshape(self.groups, f_group, -1, 3, 3).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(
            self.in_ch, f_group, 3, 3)

    def _winograd_chunks(self, n: int, c: int, f: int, oh: int, ow: int, x):
        """Chunks whose transformed input and output (4 x 4 x (C + F) per tile) fit ``WINOGRAD_BYTES``:
        larger than im2col's, as the GEMMs' tile axis (an inner axis for dW) needs to be long."""
        bytes_per_image = 16 * (c + f) * tiles(oh) * tiles(ow) * x.dtype.itemsize
        return self.workspace.chunks(n, bytes_per_image, get_array_module(x), budget=WINOGRAD_BYTES)

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
