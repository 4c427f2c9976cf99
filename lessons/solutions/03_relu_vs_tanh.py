"""Lesson 03, exercises: a reference solution. Try the exercise before reading on."""


def tanh_backward(y, dy):
    """dL/dx from the forward's output y = tanh(x): tanh' = 1 - tanh^2 = 1 - y^2."""
    return dy * (1 - y * y)


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(tanh_backward))
