"""Lesson 02, exercises: a reference solution. Try the exercise before reading on."""

from scratchnet.kernels.im2col import col2im, im2col


def conv_backward(x, W, dy, stride, pad):
    """(dx, dW, db) of y = conv(x, W) + b with groups=1, from dy = dL/dy, by im2col and col2im."""
    F, _, k, _ = W.shape
    G = dy.transpose(1, 0, 2, 3).reshape(F, -1)           # dL/dY_mat: (F, N * OH * OW), columns image-major
    cols = im2col(x, k, stride, pad)                      # (C k k, N OH OW)
    dW = (G @ cols.T).reshape(W.shape)
    db = G.sum(axis=1)
    dx = col2im(W.reshape(F, -1).T @ G, x.shape, k, stride, pad)   # the adjoint of im2col: overlaps add up
    return dx, dW, db


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(conv_backward))
