"""Lesson 12, exercises: a reference solution. Try the exercise before reading on."""


def logit_step(h, g, z, lr, d):
    """Delta z_n = -lr (sum_m (h_n . h_m) g_m + sum_m g_m + d z_n), fc8's first SGD step (lesson 12, section 3)."""
    return -lr * ((h @ h.T) @ g + g.sum(axis=0) + d * z)


if __name__ == "__main__":
    from scratchnet.exercises import check
    print(check(logit_step))
