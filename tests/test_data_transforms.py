"""Transforms: centring statistics, crops and flips, PCA colour, ten-crop, the pipelines."""

import numpy as np
import pytest

from scratchnet.data import DataError
from scratchnet.data.transforms import (
    EvalTransform,
    PCAColor,
    Preprocessing,
    TrainTransform,
    average_crop_softmax,
    center_crop,
    channel_mean_std,
    fit_pca_color,
    hflip,
    mean_image,
    normalize_channels,
    pad_images,
    pca_color_offsets,
    random_crop_flip,
    resize_images,
    rgb_covariance,
    softmax,
    subtract_mean_image,
    ten_crop,
    to_float_nchw,
    to_rgb,
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def images():
    """(6, 12, 10, 3) uint8 with correlated channels, so the RGB covariance is not diagonal."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 200, size=(6, 12, 10, 1))
    noise = rng.integers(0, 56, size=(6, 12, 10, 3))
    return (base + noise).astype(np.uint8)


def test_layout_helpers(images):
    nchw = to_float_nchw(images)
    assert nchw.dtype == np.float32 and nchw.shape == (6, 3, 12, 10) and nchw.flags.c_contiguous
    assert nchw[2, 1, 5, 7] == images[2, 5, 7, 1]
    assert to_float_nchw(images, scale=1 / 255).max() <= 1.0
    grey = images[..., :1]
    assert np.array_equal(to_rgb(grey)[..., 2], grey[..., 0]) and to_rgb(images) is images
    square = images[:, :10]
    assert resize_images(square, 10) is square                      # already the size: untouched
    smaller = resize_images(images, 6)                              # 12x10 -> 7x6 -> centre 6x6
    assert smaller.shape == (6, 6, 6, 3) and smaller.dtype == np.uint8


def test_centring_statistics_match_numpy(images):
    np.testing.assert_allclose(mean_image(images), images.mean(axis=0), rtol=1e-6)
    mu, sigma = channel_mean_std(images)
    np.testing.assert_allclose(mu, images.reshape(-1, 3).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(sigma, images.reshape(-1, 3).std(axis=0), rtol=1e-5)
    centred = subtract_mean_image(images, mean_image(images))
    assert centred.dtype == np.float32 and np.abs(centred.mean(axis=0)).max() < 1e-3
    standard = normalize_channels(images, mu, sigma)
    assert standard.dtype == np.float32
    np.testing.assert_allclose(standard.reshape(-1, 3).std(axis=0), 1, rtol=1e-4)
    pixels01 = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(rgb_covariance(images), np.cov(pixels01.T, bias=True), rtol=1e-9)


def test_crops_and_flips(images, rng):
    assert np.array_equal(hflip(images)[:, :, 0], images[:, :, -1])
    np.testing.assert_array_equal(center_crop(images, 8), images[:, 2:10, 1:9])
    crops = random_crop_flip(images, 8, rng)
    assert crops.shape == (6, 8, 8, 3) and crops.dtype == np.uint8
    for crop, image in zip(crops, images):       # each crop is a window of its image, maybe mirrored
        windows = [image[t:t + 8, c:c + 8] for t in range(5) for c in range(3)]
        windows += [w[:, ::-1] for w in windows]
        assert any(np.array_equal(crop, w) for w in windows)
    with pytest.raises(DataError, match="crop 13x13 does not fit images of 12x10"):
        random_crop_flip(images, 13, rng)


def test_padding_adds_zero_borders(images):
    padded = pad_images(images, 2)
    assert padded.shape == (6, 16, 14, 3)
    np.testing.assert_array_equal(padded[:, 2:-2, 2:-2], images)
    assert padded[:, :2].max() == 0 and padded[:, :, -2:].max() == 0
    assert pad_images(images, 0) is images


def test_padded_crop_shifts_by_at_most_pad(rng):
    x = np.arange(32 * 32, dtype=np.float32).reshape(1, 32, 32, 1) + 1
    seen = set()
    for _ in range(200):
        out = random_crop_flip(x, 32, rng, pad=4, flip=False)[0, :, :, 0]
        rows, cols = np.nonzero(out)                       # zeros are the padding
        top, left = rows.min(), cols.min()
        shift = out[top, left] - 1                         # value of the first real pixel
        seen.add((int(shift // 32) - top, int(shift % 32) - left))
        assert out[top, left:].max() > 0 and (out == 0).sum() <= 32 * 32 - 28 * 28
    assert seen <= {(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)} and len(seen) > 40


def test_flip_is_a_fair_coin(rng):
    ramp = np.arange(4, dtype=np.uint8).reshape(1, 1, 4, 1).repeat(4000, axis=0)   # (4000, 1, 4, 1)
    out = random_crop_flip(ramp, (1, 4), rng)              # full-size crop: only the flip varies
    mirrored = out[:, 0, 0, 0] == 3
    assert np.all(out[mirrored, 0, :, 0] == [3, 2, 1, 0]) and np.all(out[~mirrored, 0, :, 0] == [0, 1, 2, 3])
    assert 0.45 < mirrored.mean() < 0.55


def test_ten_crop_corners_centre_and_mirrors(images):
    crops = ten_crop(images, 8)
    assert crops.shape == (6, 10, 8, 8, 3)
    np.testing.assert_array_equal(crops[:, 0], images[:, :8, :8])
    np.testing.assert_array_equal(crops[:, 1], images[:, :8, 2:])
    np.testing.assert_array_equal(crops[:, 2], images[:, 4:, :8])
    np.testing.assert_array_equal(crops[:, 3], images[:, 4:, 2:])
    np.testing.assert_array_equal(crops[:, 4], center_crop(images, 8))
    np.testing.assert_array_equal(crops[:, 5:], crops[:, :5, :, ::-1])


def test_softmax_averaged_over_crops(rng):
    logits = rng.normal(size=(3, 10, 5)) * 4
    logits[0, 0, 0] = 1000.0                               # must not overflow
    expected = np.stack([np.mean([np.exp(z - z.max()) / np.exp(z - z.max()).sum() for z in image],
                                 axis=0) for image in logits])
    probs = average_crop_softmax(logits)
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    np.testing.assert_allclose(average_crop_softmax(logits.reshape(30, 5)), probs)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isfinite(softmax(logits)).all()
    with pytest.raises(ValueError, match="not a multiple of 10"):
        average_crop_softmax(np.zeros((7, 5)))


def test_pca_offsets_have_the_paper_covariance(images):
    pca = fit_pca_color(images)
    assert np.all(np.diff(pca.eigenvalues) <= 0)                          # largest first
    np.testing.assert_allclose(pca.eigenvectors @ np.diag(pca.eigenvalues) @ pca.eigenvectors.T,
                               rgb_covariance(images), atol=1e-12)
    offsets = pca_color_offsets(200_000, pca, np.random.default_rng(7), alpha_std=0.1)
    expected = sum(0.01 * pca.eigenvalues[i] ** 2 * np.outer(pca.eigenvectors[:, i],
                                                              pca.eigenvectors[:, i]) for i in range(3))
    empirical = np.cov(offsets.T, bias=True)
    np.testing.assert_allclose(empirical, expected, atol=0.02 * np.abs(expected).max())
    np.testing.assert_allclose(offsets.mean(axis=0), 0, atol=0.02 * np.sqrt(expected.max()))


def test_pca_offset_is_along_the_top_component_when_only_it_is_nonzero(rng):
    basis = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    pca = PCAColor(np.array([0.05, 0.0, 0.0]), basis)
    offsets = pca_color_offsets(50, pca, rng)
    np.testing.assert_allclose(np.cross(offsets, basis[:, 0]), 0, atol=1e-15)


def test_train_transform_is_centring_crop_flip_then_pca(images):
    stats = Preprocessing.fit(images)
    plain = TrainTransform(stats, crop=None, flip=False, pca_alpha_std=0)(images, np.random.default_rng(1))
    assert plain.dtype == np.float32 and plain.shape == (6, 3, 12, 10)
    np.testing.assert_allclose(plain, (images - stats.mean_image).transpose(0, 3, 1, 2), atol=1e-4)
    coloured = TrainTransform(stats, crop=None, flip=False)(images, np.random.default_rng(1))
    shift = coloured - plain                                      # one RGB offset per image
    assert np.allclose(shift, shift[:, :, :1, :1], atol=1e-3)
    rng = np.random.default_rng(1)                                # the documented draw order
    rng.integers(0, 1, size=6), rng.integers(0, 1, size=6)
    expected = 255 * pca_color_offsets(6, stats.pca, rng)
    np.testing.assert_allclose(shift[:, :, 0, 0], expected, rtol=1e-4, atol=1e-3)


def test_channel_centring_gives_zero_mean_unit_std(images):
    stats = Preprocessing.fit(images)
    out = TrainTransform(stats, centering="channel", flip=False, pca_alpha_std=0)(
        images, np.random.default_rng(0))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(DataError, match="centering must be one of"):
        TrainTransform(stats, centering="whiten")


def test_eval_transform_centre_and_ten_crops(images):
    stats = Preprocessing.fit(images)
    centred = np.float32(images - stats.mean_image) / 255
    single = EvalTransform(stats, crop=8, scale=1 / 255)(images)
    np.testing.assert_allclose(single, center_crop(centred, 8).transpose(0, 3, 1, 2), atol=1e-6)
    ten = EvalTransform(stats, crop=8, ten_crop=True, scale=1 / 255)(images)
    assert ten.shape == (60, 3, 8, 8)
    np.testing.assert_allclose(ten[2 * 10 + 4], single[2], atol=1e-6)      # image 2, centre crop
    np.testing.assert_allclose(ten[2 * 10 + 9], single[2][:, :, ::-1], atol=1e-6)


def test_grey_sets_refuse_pca_but_train_without_it(images):
    grey = images[..., :1]
    stats = Preprocessing.fit(grey)
    assert stats.pca is None
    with pytest.raises(DataError, match="PCA colour augmentation needs RGB"):
        TrainTransform(stats)
    out = TrainTransform(stats, pca_alpha_std=0, crop=8)(grey, np.random.default_rng(0))
    assert out.shape == (6, 1, 8, 8)


def test_preprocessing_round_trips_through_arrays(images, tmp_path):
    stats = Preprocessing.fit(images)
    np.savez(tmp_path / "stats.npz", **stats.to_arrays())
    with np.load(tmp_path / "stats.npz", allow_pickle=False) as saved:
        again = Preprocessing.from_arrays(saved)
    np.testing.assert_array_equal(again.mean_image, stats.mean_image)
    np.testing.assert_array_equal(again.pca.eigenvectors, stats.pca.eigenvectors)
