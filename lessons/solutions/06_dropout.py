"""Lesson 06, exercises: a reference solution. Try the exercise before reading on."""


def dropout(x, keep, p, train):
    """Inverted dropout: survivors scaled by 1/(1-p) while training, the identity at test time."""
    if not train:
        return x
    return x * keep / (1 - p)


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(dropout))
