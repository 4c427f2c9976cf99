"""Decode one image file to 8-bit RGB and bring it to the training size.

The size rule (the paper's ImageNet preprocessing, section 2), made explicit:

- ``size=None``: keep the image at its native size (an image tree whose
  images differ in size then brings them all to ``PAPER_SIZE``: see
  ``image_tree``).
- ``size=S``: an image that is already S x S is kept bit-exact (no
  resampling: a 32x32 CIFAR tree loaded with ``size=32`` is untouched).
  Any other image is rescaled so its *shorter* side is S (bilinear, which
  Pillow antialiases when shrinking) and the central S x S patch is kept.

Colour rule: every image leaves here as (H, W, 3) uint8 RGB. Other modes are
converted and the source mode is reported so the loader can count them:

- "L", "1" (grey, bilevel): the grey value is copied to R, G and B.
- "I;16*", "I" (16-bit grey, e.g. 16-bit PNG): v8 = round(v16 * 255 / 65535),
  then copied to R, G and B (Pillow's own ``convert`` would clip at 255).
- 16-bit colour (PNG "RGB;16"): Pillow itself reads it as 8-bit RGB, keeping
  the high byte (v8 = floor(v16 / 256), within one grey level of the
  rule above); it is counted as "RGB;16".
- "CMYK", "YCbCr", "P" (palette), "RGBA", "LA", ...: Pillow's ``convert("RGB")``;
  alpha is dropped, as torchvision's image-folder loader does.
- "F" (32-bit float): refused, the value range is unknown.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .dataset import DataError

#: File-name endings treated as images (lower case). Other files in a class
#: folder are reported as non-image files; names starting with "." are ignored.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm",
                            ".pbm", ".tif", ".tiff", ".webp"})

#: The paper's stored size (section 2): shorter side to 256, central 256x256 patch.
PAPER_SIZE = 256

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


class ImageDecodeError(DataError):
    """One file could not be decoded: ``origin`` names it, ``reason`` says why."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: cannot decode image ({reason}); replace or delete the "
                         f"file, or load with skip_bad=True (--skip-bad) to leave it out")
        self.origin = origin
        self.reason = reason


@dataclass
class DecodedImage:
    """``pixels``: (H, W, 3) uint8 RGB; ``converted_from``: source mode or None;
    ``resized``: whether resampling happened."""

    pixels: np.ndarray
    converted_from: str | None
    resized: bool


def is_image_name(name: str) -> bool:
    """True when ``name`` ends with one of ``IMAGE_SUFFIXES`` (any case)."""
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_SUFFIXES


def rgb8_from_image(img: Image.Image, origin: str) -> tuple[Image.Image, str | None]:
    """``img`` as an 8-bit RGB Pillow image, and the mode it was converted from (None if RGB)."""
    mode = img.mode
    if mode == "RGB":
        return img, None
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img).astype(np.int64)
        grey = (np.clip(wide, 0, 65535) * 255 + 32767) // 65535   # round(v * 255 / 65535)
        grey = grey.astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB"), mode
    if mode == "F":
        raise ImageDecodeError(origin, "32-bit float image, value range unknown; "
                                       "convert it to 8-bit first")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")        # Pillow warns when palette transparency goes straight to RGB
    return img.convert("RGB"), mode


def wide_colour_mode(img: Image.Image) -> str | None:
    """"RGB;16" (or "RGBA;16") for 16-bit colour Pillow will read as 8-bit; else None.

    Must be called before ``load()``, while ``img.tile`` still says how the file stores pixels.
    """
    for tile in getattr(img, "tile", None) or []:
        args = tile[3]
        rawmode = args if isinstance(args, str) else args[0] if args else ""
        if isinstance(rawmode, str) and ";16" in rawmode and img.mode not in _SIXTEEN_BIT_MODES:
            return f"{img.mode};16"
    return None


def shorter_side_then_center_crop(img: Image.Image, size: int) -> tuple[Image.Image, bool]:
    """Shorter side -> ``size``, then the central ``size`` x ``size`` patch.

    Returns the image and whether it was resampled: an image already
    ``size`` x ``size`` comes back unchanged.
    """
    width, height = img.size
    if (width, height) == (size, size):
        return img, False
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_w, new_h) != (width, height):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size)), True


def decode_image(data: bytes, size: int | None, origin: str) -> DecodedImage:
    """Decode encoded image bytes (JPEG, PNG, ...) following the module's rules.

    ``origin`` names the file in error messages. Raises ``ImageDecodeError``
    (a ``DataError``) for data Pillow cannot decode (not an image, truncated,
    corrupt).
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns (UserWarning) about odd but harmless metadata such as
            # corrupt EXIF; the pixels are fine. A truncated file still raises on load().
            warnings.simplefilter("ignore", UserWarning)
            img = Image.open(io.BytesIO(data))
            wide = wide_colour_mode(img)
            img.load()
        img, converted_from = rgb8_from_image(img, origin)
        converted_from = converted_from or wide
        resized = False
        if size is not None:
            img, resized = shorter_side_then_center_crop(img, size)
        pixels = np.asarray(img, dtype=np.uint8)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(origin, "not a recognised image format") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # truncated, corrupt
        raise ImageDecodeError(origin, f"{type(exc).__name__}: {exc}") from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ImageDecodeError(origin, f"decoded to shape {pixels.shape}, expected (H, W, 3)")
    return DecodedImage(pixels, converted_from, resized)
