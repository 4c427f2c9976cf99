"""Transforms on NumPy batches: uint8 NHWC images in, float32 NCHW out.

Every random choice takes an explicit ``numpy.random.Generator``.

- ``layout``: NHWC -> NCHW float32, grey -> RGB, resizing.
- ``normalize``: mean image (the paper) and per-channel mean / std.
- ``crops``: random crops with flips, padding, centre crop.
- ``pca_color``: the paper's PCA colour augmentation.
- ``ten_crop``: the paper's 10-crop test and softmax averaging.
- ``pipeline``: ``Preprocessing`` (fitted statistics), ``TrainTransform``,
  ``EvalTransform``.
"""

from .crops import center_crop, hflip, pad_images, random_crop_flip
from .layout import nhwc_to_nchw, resize_images, to_float_nchw, to_rgb
from .normalize import channel_mean_std, mean_image, normalize_channels, subtract_mean_image
from .pca_color import PAPER_ALPHA_STD, PCAColor, fit_pca_color, pca_color_offsets, rgb_covariance
from .pipeline import CENTERINGS, EvalTransform, Preprocessing, TrainTransform
from .ten_crop import average_crop_softmax, softmax, ten_crop

__all__ = [
    "center_crop", "hflip", "pad_images", "random_crop_flip",
    "nhwc_to_nchw", "resize_images", "to_float_nchw", "to_rgb",
    "channel_mean_std", "mean_image", "normalize_channels", "subtract_mean_image",
    "PAPER_ALPHA_STD", "PCAColor", "fit_pca_color", "pca_color_offsets", "rgb_covariance",
    "CENTERINGS", "EvalTransform", "Preprocessing", "TrainTransform",
    "average_crop_softmax", "softmax", "ten_crop",
]
