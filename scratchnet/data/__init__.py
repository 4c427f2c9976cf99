"""Data sets, the paper's preprocessing and augmentation, and the batch loader.

Loading (each returns a ``Dataset``: uint8 NHWC images, int64 labels)::

    ds = load_dataset("cifar10")                  # data/cifar-10-batches-py, ...
    ds = load_dataset("auto", "path/to/cifar10-jpeg.tar.xz")  # an image-folder tarball
    ds = load_dataset("imagefolder", "imagenet/")  # 256x256, shorter side + centre crop
    ds = load_dataset("data/imagenette2-320")      # photos of varied sizes: 256x256 too
    ds.class_names                                # ["tench", ...]; ds.classes: the wnids
    ds = load_digits()                            # bundled, no download
    print(ds.summary())

Training input (the paper's section 4.1)::

    stats = Preprocessing.fit(ds.train_x)         # mean image, channel stats, RGB PCA
    train = BatchLoader(ds.train_x, ds.train_y, 128,
                        TrainTransform(stats, crop=32, pad=4), seed=0)
    for xb, yb in train.epoch(epoch):             # float32 (128, 3, 32, 32), int64 (128,)
        ...
    test = BatchLoader(ds.test_x, ds.test_y, 128, EvalTransform(stats), shuffle=False)

Image sets bigger than memory (``streaming``)::

    ds = stream_image_folder("imagenet/", 256)    # decoded once into shards on disk
    ds.train_x                                    # ImageRows: read a batch at a time
    train = BatchLoader(ds.train_x, ds.train_y, 128, transform, workers=4)  # 4 processes

Modules, one idea each: ``dataset`` (the record, and ``DataError``),
``image_decode`` (one image: RGB, size rule), ``class_names`` (WordNet ids
to "tench"), ``image_tree`` / ``image_folder`` / ``image_tarball``
(image-folder trees; ImageNet's flat ``val/``: ``imagenet_val``), ``cache``
(the decoded-image cache and where data lives), ``streaming`` / ``shards``
(decoded images on disk, read per batch), ``workers`` (worker processes),
``cifar10_pickle``, ``idx`` (MNIST), ``digits``, ``load`` (``load_dataset``),
``download``, ``transforms/``, ``loader``, ``cli``, and
``synthetic`` (tiny sets written in each real on-disk format, for tests).
"""

from .cache import default_cache_dir, default_data_dir
from .cifar10_pickle import CIFAR10_CLASSES, load_cifar10_pickle, load_cifar10_pickle_tarball
from .class_names import IMAGENETTE_NAMES, display_name
from .dataset import DataError, Dataset
from .digits import load_digits
from .download import CIFAR10_SHA256, CIFAR10_URL, RELEASES, fetch_cifar10, fetch_imagenette
from .idx import FASHION_MNIST_CLASSES, MNIST_CLASSES, load_idx_dataset
from .load import DATASET_NAMES, detect_format, find_default_cifar10, load_dataset, load_image_folder
from .loader import BatchLoader
from .shards import ImageRows
from .streaming import stream_image_folder
from .transforms import (
                   EvalTransform,
                   Preprocessing,
                   TrainTransform,
                   average_crop_softmax,
                   ten_crop,
                   to_float_nchw,
                   to_rgb,
)

__all__ = [
    "CIFAR10_CLASSES", "load_cifar10_pickle", "load_cifar10_pickle_tarball",
    "IMAGENETTE_NAMES", "display_name",
    "Dataset", "load_digits", "CIFAR10_SHA256", "CIFAR10_URL", "RELEASES", "fetch_cifar10",
    "fetch_imagenette", "DataError",
    "FASHION_MNIST_CLASSES", "MNIST_CLASSES", "load_idx_dataset",
    "DATASET_NAMES", "detect_format", "find_default_cifar10", "load_dataset", "load_image_folder",
    "BatchLoader", "ImageRows", "stream_image_folder", "default_cache_dir", "default_data_dir",
    "EvalTransform", "Preprocessing", "TrainTransform", "average_crop_softmax", "ten_crop",
    "to_float_nchw", "to_rgb",
]
