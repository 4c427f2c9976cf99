"""Lesson 08, exercises: a reference solution. Try the exercise before reading on."""


def sgd_step(w, v, g, lr, momentum, weight_decay):
    """The paper's step: v <- m v - d lr w - lr g, then w <- w + v (the new v)."""
    v = momentum * v - weight_decay * lr * w - lr * g
    return w + v, v


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(sgd_step))
