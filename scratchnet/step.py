"""One step of the paper's training: forward, softmax cross-entropy, backward, SGD."""

from __future__ import annotations


def train_step(model, criterion, optimizer, images, labels, reduce_grads=None):
    """Take one SGD step on (images, labels); returns (loss, logits), both still on the device.

    ``reduce_grads(grads)``, when given, runs between the backward pass and
    the update: data-parallel workers average their gradients there.
    """
    logits = model.forward(images, train=True)  # the model copies the batch to each tower's device
    loss = criterion.forward(logits, labels)
    model.backward(criterion.backward())
    grads = model.grads()
    if reduce_grads is not None:
        reduce_grads(grads)
    optimizer.step(grads)
    return loss, logits
