"""ScratchNet's layers: explicit forward and backward passes, NCHW, one file per family.

These are the reference a learner reads; ``scratchnet.fast`` holds the fast
engine's versions of the same layers, held equal to these by the tests.
"""

from .activations import ReLU, Tanh
from .base import Layer
from .conv import Conv2D
from .dropout import Dropout
from .linear import Linear
from .loss import SoftmaxCrossEntropy, log_softmax, softmax
from .lrn import LRN
from .pool import MaxPool
from .shape import Flatten

__all__ = ["Layer", "Conv2D", "Linear", "ReLU", "Tanh", "LRN", "MaxPool", "Dropout", "Flatten",
           "SoftmaxCrossEntropy", "log_softmax", "softmax"]
