"""Image-folder trees on disk and in tarballs: colour modes, the size rule, bad files."""

import io
import struct
import tarfile
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from scratchnet.data import DataError, load_image_folder
from scratchnet.data.image_folder import decode_image_folder
from scratchnet.data.image_tarball import decode_image_tarball
from scratchnet.data.synthetic import tarball_of, write_image_tree


def _rgb(seed, size=(32, 32)):
    return np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)


def _png_rgb16(pixels):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): signature, IHDR, IDAT, IEND."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)    # filter 0 per row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)              # 16 bits, RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture
def odd_modes_tree(tmp_path):
    """train/{cat,dog} with one RGB PNG each plus L, CMYK, 16-bit, palette, RGBA and 16-bit RGB images."""
    root = tmp_path / "tree"
    write_image_tree(root, ("cat", "dog"), {"train": 1, "test": 1})
    cat = root / "train" / "cat"
    Image.fromarray(_rgb(1)[..., 0], "L").save(cat / "grey.jpg")
    Image.fromarray(_rgb(2), "RGB").convert("CMYK").save(cat / "cmyk.jpg")
    sixteen = np.random.default_rng(3).integers(0, 65536, size=(32, 32), dtype=np.uint16)
    Image.fromarray(sixteen).save(cat / "deep.png")                          # mode I;16
    Image.fromarray(_rgb(4), "RGB").convert("P").save(cat / "palette.png")
    Image.fromarray(np.dstack([_rgb(5), _rgb(6)[..., :1]]), "RGBA").save(cat / "alpha.png")
    wide = np.random.default_rng(7).integers(0, 65536, size=(32, 32, 3))
    (cat / "wide.png").write_bytes(_png_rgb16(wide))
    return root, sixteen, wide


def test_every_mode_becomes_8bit_rgb_and_is_counted(odd_modes_tree):
    root, sixteen, wide = odd_modes_tree
    ds = decode_image_folder(root, size=None)
    assert ds.train_x.shape == (8, 32, 32, 3) and ds.train_x.dtype == np.uint8
    assert ds.conversions == {"L": 1, "CMYK": 1, "I;16": 1, "P": 1, "RGBA": 1, "RGB;16": 1}
    assert "converted to 8-bit RGB: 6" in ds.summary()
    # files of a class are ordered by name: 0000.png, alpha, cmyk, deep, grey, palette, wide
    np.testing.assert_array_equal(ds.train_x[6], wide >> 8)              # Pillow keeps the high byte
    deep, grey = ds.train_x[3], ds.train_x[4]
    expected = np.round(sixteen.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(deep[..., 0], expected)                 # scaled, not clipped
    for image in (deep, grey):
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])


def test_png_pixels_come_back_exactly(tmp_path):
    written = write_image_tree(tmp_path, ("a", "b"), {"train": 2, "test": 1})
    ds = decode_image_folder(tmp_path, size=32)          # already 32x32: no resampling
    assert ds.resized == 0
    np.testing.assert_array_equal(ds.train_x[0], written[str(tmp_path / "train/a/0000.png")])
    np.testing.assert_array_equal(ds.train_x[3], written[str(tmp_path / "train/b/0001.png")])
    np.testing.assert_array_equal(ds.train_y, [0, 0, 1, 1])
    np.testing.assert_array_equal(ds.test_y, [0, 1])


def test_other_sizes_get_shorter_side_then_centre_crop(tmp_path):
    write_image_tree(tmp_path, ("a",), {"train": 1, "test": 1}, size=(32, 32))
    wide = _rgb(7, size=(40, 60))                       # height 40, width 60
    Image.fromarray(wide).save(tmp_path / "train" / "a" / "wide.png")
    ds = decode_image_folder(tmp_path, size=32)
    assert ds.resized == 1 and ds.train_x.shape == (2, 32, 32, 3)
    by_hand = Image.fromarray(wide).resize((48, 32), Image.Resampling.BILINEAR).crop((8, 0, 40, 32))
    np.testing.assert_array_equal(ds.train_x[1], np.asarray(by_hand))


def test_one_native_shape_is_kept_bit_exact(tmp_path):
    written = write_image_tree(tmp_path, ("a", "b"), {"train": 2, "test": 1}, size=(24, 20))
    ds = decode_image_folder(tmp_path, size=None)
    assert ds.image_shape == (24, 20, 3) and ds.resized == 0 and ds.size_note is None
    np.testing.assert_array_equal(ds.train_x[3], written[str(tmp_path / "train/b/0001.png")])


@pytest.mark.parametrize("odd_one", ["train/a/zz.png", "test/b/zz.png"])
def test_varied_sizes_get_the_papers_256_rule_as_if_asked(tmp_path, odd_one):
    """One odd image, after the others were kept native (or in the test split only): all go to 256."""
    write_image_tree(tmp_path, ("a", "b"), {"train": 2, "test": 1}, size=(32, 32))
    Image.fromarray(_rgb(8, size=(300, 200))).save(tmp_path / odd_one)
    ds = decode_image_folder(tmp_path, size=None)
    asked = decode_image_folder(tmp_path, size=256)
    assert ds.image_shape == (256, 256, 3) and ds.resized == asked.resized == 7
    for split in ("train_x", "test_x"):               # the same bytes as decoding at 256
        np.testing.assert_array_equal(getattr(ds, split), getattr(asked, split))
    assert ds.size_note == ("photos of varied sizes: shorter side resized to 256, centre "
                            "256x256 crop, as the paper") and asked.size_note is None
    assert f"note    : {ds.size_note}" in ds.summary()
    packed = tarball_of(tmp_path, tmp_path.parent / f"{tmp_path.name}.tar")
    np.testing.assert_array_equal(decode_image_tarball(packed, size=None).train_x, ds.train_x)


@pytest.fixture
def broken_tree(tmp_path):
    """A good tree plus a truncated JPEG, a text file named .jpg and a notes.txt."""
    root = tmp_path / "tree"
    write_image_tree(root, ("cat", "dog"), {"train": 2, "test": 1})
    buffer = io.BytesIO()
    Image.fromarray(_rgb(9, size=(64, 64))).save(buffer, "JPEG")
    (root / "train" / "cat" / "truncated.jpg").write_bytes(buffer.getvalue()[:400])
    (root / "train" / "dog" / "fake.jpg").write_text("not a picture")
    (root / "test" / "dog" / "notes.txt").write_text("taken in 2009")
    (root / "train" / "dog" / ".DS_Store").write_bytes(b"\0\1")        # hidden: ignored
    bad = [root / "train/cat/truncated.jpg", root / "train/dog/fake.jpg", root / "test/dog/notes.txt"]
    return root, [str(p) for p in bad]


def test_bad_files_raise_one_error_listing_them(broken_tree):
    root, bad = broken_tree
    with pytest.raises(DataError) as caught:
        decode_image_folder(root, size=None)
    message = str(caught.value)
    assert "cannot read 3 files" in message and "skip_bad=True" in message
    for path in bad:
        assert path in message
    assert "not a recognised image format" in message


def test_skip_bad_leaves_them_out_and_says_so(broken_tree):
    root, bad = broken_tree
    with pytest.warns(UserWarning, match="skipped 3 files"):
        ds = decode_image_folder(root, size=None, skip_bad=True)
    assert sorted(ds.skipped) == sorted(bad)
    assert len(ds.train_x) == 4 and len(ds.test_x) == 2          # every good image kept
    assert "skipped : 3 unreadable files" in ds.summary()


def test_empty_class_folder_raises_or_keeps_its_label(tmp_path):
    write_image_tree(tmp_path, ("cat", "dog"), {"train": 2, "test": 1})
    (tmp_path / "train" / "bird").mkdir()
    (tmp_path / "test" / "bird").mkdir()
    with pytest.raises(DataError, match=r"no images: 2 files: train/bird/, test/bird/"):
        decode_image_folder(tmp_path, size=None)
    with pytest.warns(UserWarning, match="no images"):
        ds = decode_image_folder(tmp_path, size=None, skip_bad=True)
    assert ds.classes == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(ds.train_y, [1, 1, 2, 2])
    assert any("empty class folders" in note for note in ds.notes)


def test_test_class_unknown_to_train_is_refused(tmp_path):
    write_image_tree(tmp_path, ("cat",), {"train": 1, "test": 1})
    write_image_tree(tmp_path, ("cow",), {"test": 1})
    with pytest.raises(DataError, match="test/ has class folders that train/ lacks: cow"):
        decode_image_folder(tmp_path, size=None)


def test_missing_split_or_folder_is_explained(tmp_path):
    write_image_tree(tmp_path, ("cat",), {"train": 1})
    with pytest.raises(DataError, match=r"expected an image-folder tree.*found splits: train"):
        decode_image_folder(tmp_path, size=None)
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        decode_image_folder(tmp_path / "nowhere")


def test_val_split_serves_as_test(tmp_path):
    write_image_tree(tmp_path, ("a", "b"), {"train": 1, "val": 2})
    ds = decode_image_folder(tmp_path, size=None)
    assert len(ds.test_x) == 4


def test_tarball_decodes_in_memory_like_the_folder(tmp_path, broken_tree):
    root = tmp_path / "good"
    write_image_tree(root, ("cat", "dog"), {"train": 2, "test": 2}, suffix=".jpg")
    archive = tarball_of(root, tmp_path / "good.tar.xz", arcname="good")   # tree under a top folder
    before = sorted(p.name for p in tmp_path.iterdir())
    from_folder = decode_image_folder(root, size=None)
    from_tarball = decode_image_tarball(archive, size=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == before           # nothing extracted
    assert from_tarball.format == "image-folder-tarball" and from_tarball.name == "good"
    np.testing.assert_array_equal(from_tarball.train_x, from_folder.train_x)
    np.testing.assert_array_equal(from_tarball.test_y, from_folder.test_y)
    broken_root, _ = broken_tree
    broken = tarball_of(broken_root, tmp_path / "broken.tar.gz")
    with pytest.raises(DataError, match=r"broken\.tar\.gz:\./train/cat/truncated\.jpg"):
        decode_image_tarball(broken, size=None)


@pytest.mark.parametrize("archive", [None, "tree.tar", "tree.tar.xz"])
def test_decode_off_a_terminal_reports_progress_in_lines(tmp_path, monkeypatch, capsys, archive):
    from scratchnet import progress

    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)  # a line at every update, not every 10 s
    root = tmp_path / "tree"
    write_image_tree(root, ("cat", "dog"), {"train": 20, "test": 5}, size=(64, 64))  # noise: ~12 kB a PNG
    path = root if archive is None else tarball_of(root, tmp_path / archive)
    decode = decode_image_folder if archive is None else decode_image_tarball
    decode(path, size=None)
    assert capsys.readouterr().out == ""                      # progress=False: silent
    decode(path, size=None, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 50 and all(", ETA " in line and " img/s" in line for line in lines)
    if archive is None:
        assert lines[-1].startswith("  decoding tree: 50/50 images, ")
    else:                                                     # counted in bytes read of the archive file
        assert lines[-1].startswith(f"  decoding {archive}: ")
        assert f"/{path.stat().st_size / 1e6:,.1f} MB, " in lines[-1]


def test_truncated_archive_is_a_data_error(tmp_path):
    write_image_tree(tmp_path / "tree", ("a",), {"train": 2, "test": 2})
    packed = tarball_of(tmp_path / "tree", tmp_path / "tree.tar.gz")
    packed.write_bytes(packed.read_bytes()[:300])
    with pytest.raises(DataError, match=r"tree\.tar\.gz: cannot read the archive"):
        decode_image_tarball(packed, size=None)
    # a plain tar cut exactly after a member: every header left is whole, only the end is missing
    plain = tarball_of(tmp_path / "tree", tmp_path / "tree.tar")
    with tarfile.open(plain) as archive:
        first_test = next(m for m in archive.getmembers() if m.isfile() and "/test/" in f"/{m.name}")
        cut = first_test.offset_data + -(-first_test.size // 512) * 512
    plain.write_bytes(plain.read_bytes()[:cut])
    with pytest.raises(DataError, match=r"tree\.tar: cannot read the archive.*cut short"):
        decode_image_tarball(plain, size=None)


def test_cache_is_written_once_and_reused(tmp_path, monkeypatch):
    root = tmp_path / "tree"
    write_image_tree(root, ("a", "b"), {"train": 2, "test": 1})
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCRATCHNET_CACHE", str(cache))        # the documented override
    first = load_image_folder(root, size=32)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))   # written atomically, no leftovers
    with np.load(files[0], allow_pickle=False) as saved:       # plain arrays, no pickle
        assert saved["train_x"].dtype == np.uint8
    second = load_image_folder(root, size=32)
    assert any("loaded from cache" in note for note in second.notes)
    np.testing.assert_array_equal(second.train_x, first.train_x)
    assert second.classes == first.classes
    # a changed image changes the key: decoded again, new file beside the old
    Image.fromarray(_rgb(10)).save(root / "train" / "a" / "0000.png")
    third = load_image_folder(root, size=32)
    assert not any("loaded from cache" in note for note in third.notes)
    assert len(list(cache.glob("*.npz"))) == 2
    # the argument beats the environment; use_cache=False writes nothing
    load_image_folder(root, size=32, cache_dir=tmp_path / "other")
    assert len(list((tmp_path / "other").glob("*.npz"))) == 1
    load_image_folder(root, size=16, use_cache=False)
    assert len(list(cache.glob("*.npz"))) == 2


def test_damaged_cache_is_replaced_not_trusted(tmp_path):
    root = tmp_path / "tree"
    write_image_tree(root, ("a",), {"train": 1, "test": 1})
    load_image_folder(root, size=32, cache_dir=tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").glob("*.npz")
    cache_file.write_bytes(b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_image_folder(root, size=32, cache_dir=tmp_path / "cache")
    assert any("ignoring unreadable cache" in str(w.message) for w in caught)
    assert again.train_x.shape == (1, 32, 32, 3)
    with np.load(cache_file, allow_pickle=False) as saved:      # rewritten whole
        assert saved["train_x"].shape == (1, 32, 32, 3)


def test_float_images_are_refused_with_the_reason():
    from scratchnet.data.image_decode import ImageDecodeError, decode_image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.float32), "F").save(buffer, "TIFF")
    with pytest.raises(ImageDecodeError, match=r"depth\.tif: cannot decode image \(32-bit float") as caught:
        decode_image(buffer.getvalue(), None, "depth.tif")
    assert caught.value.origin == "depth.tif" and isinstance(caught.value, DataError)
