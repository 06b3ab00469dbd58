"""Datasets: every spec loads with the right kind, shape and range; every bad input is named."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.datasets import (
    KNOWN_DATASETS,
    Dataset,
    dataset_kind,
    held_out_mask,
    labelled_images,
    load_dataset,
    mixture_for,
)
from training.errors import DatasetError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("spec", "kind", "shape", "n"),
    [
        ("gaussian-1d", "vector", (1,), None),
        ("ring-8", "vector", (2,), None),
        ("grid-25", "vector", (2,), None),
        ("digits", "image", (1, 8, 8), 1797),
        ("mnist-5k", "image", (1, 28, 28), 5000),
    ],
)
def test_builtin_sets_load_with_kind_shape_and_range(spec, kind, shape, n) -> None:
    ds = load_dataset(spec)
    assert isinstance(ds, Dataset)
    assert (ds.kind, ds.sample_shape) == (kind, shape)
    assert dataset_kind(spec) == kind
    batch = ds.sample(64, _gen())
    assert batch.shape == (64, *shape) and batch.dtype == torch.float32
    if kind == "image":
        assert len(ds) == n and ds.data is not None
        assert ds.data.shape == (n, *shape) and ds.data.dtype == torch.float32
        assert float(ds.data.min()) == -1.0 and float(ds.data.max()) == 1.0
    else:
        assert ds.data is None


def test_known_datasets_lists_the_builtins() -> None:
    assert set(KNOWN_DATASETS) == {
        "gaussian-1d", "ring-8", "grid-25", "digits", "digits:train", "digits:test",
        "mnist-5k", "mnist-5k:train", "mnist-5k:test", "stacked-mnist",
    }  # fmt: skip


def test_ring_8_matches_pacgan() -> None:
    m = mixture_for("ring-8")
    assert m is not None and m.std == 0.01
    angles = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(m.centers, np.stack([np.cos(angles), np.sin(angles)], 1))
    np.testing.assert_allclose(np.linalg.norm(m.centers, axis=1), 1.0)


def test_grid_25_matches_pacgan() -> None:
    m = mixture_for("grid-25")
    assert m is not None and m.std == 0.05 and m.centers.shape == (25, 2)
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in m.centers.astype(int).tolist()} == expected


def test_gaussian_1d_and_non_mixtures() -> None:
    m = mixture_for("gaussian-1d")
    assert m is not None and m.centers.shape == (1, 1) and (m.centers[0, 0], m.std) == (4.0, 0.5)
    assert mixture_for("digits") is None and mixture_for("folder:x") is None


def test_synthetic_samples_follow_the_mixture() -> None:
    ds = load_dataset("grid-25")
    x = ds.sample(5000, _gen(1)).numpy()  # (5000, 2)
    centers = mixture_for("grid-25").centers
    d = np.sqrt(((x[:, None] - centers[None]) ** 2).sum(-1))  # (5000, 25)
    nearest = d.argmin(1)
    assert (d.min(1) < 5 * 0.05).all()
    counts = np.bincount(nearest, minlength=25)
    assert counts.min() > 120 and counts.max() < 280  # ~200 each
    g = load_dataset("gaussian-1d").sample(20000, _gen(2))
    assert abs(float(g.mean()) - 4.0) < 0.02 and abs(float(g.std()) - 0.5) < 0.02


@pytest.mark.parametrize("spec", ["ring-8", "digits"])
def test_sample_is_determined_by_the_generator(spec) -> None:
    ds = load_dataset(spec)
    a, b, c = ds.sample(32, _gen(7)), ds.sample(32, _gen(7)), ds.sample(32, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_builtin_image_resized_and_channels_on_request() -> None:
    ds = load_dataset("digits", image_size=32, channels=3)
    assert ds.sample_shape == (3, 32, 32) and ds.data.shape == (1797, 3, 32, 32)
    assert float(ds.data.min()) >= -1.0 and float(ds.data.max()) <= 1.0


# ---- folder: ----------------------------------------------------------------------------


def _write(path: Path, array: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _gray_folder(root: Path, n: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 256, (20, 30), dtype=np.uint8)  # wide grey images
        _write(root / f"sub{i % 2}" / f"g{i}.png", img, "PNG")
    return root


def test_folder_grayscale_png_resize_and_center_crop(tmp_path) -> None:
    root = tmp_path / "gray"
    _gray_folder(root)
    # A wide marker: black sides, a white middle half -> the centre crop is all white.
    marker = np.zeros((40, 120), dtype=np.uint8)
    marker[:, 30:90] = 255
    _write(root / "marker.png", marker, "PNG")
    ds = load_dataset(f"folder:{root}", image_size=8)
    assert ds.kind == "image" and ds.sample_shape == (1, 8, 8) and len(ds) == 17
    files = sorted(p for p in root.rglob("*.png"))
    idx = [p.name for p in files].index("marker.png")
    np.testing.assert_allclose(ds.data[idx].numpy(), 1.0, atol=1e-6)
    assert float(ds.data.min()) >= -1.0 and float(ds.data.max()) <= 1.0


def test_folder_mixed_rgb_and_gray_jpeg_defaults_to_colour_and_64(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for i in range(10):
        _write(tmp_path / f"c{i}.JPG", rng.integers(0, 256, (50, 40, 3), dtype=np.uint8), "JPEG")
    for i in range(10):
        _write(tmp_path / f"g{i}.jpeg", rng.integers(0, 256, (70, 70), dtype=np.uint8), "JPEG")
    (tmp_path / "notes.txt").write_text("ignored")
    ds = load_dataset("folder:.", data_root=tmp_path)
    assert ds.sample_shape == (3, 64, 64) and len(ds) == 20
    gray = load_dataset(f"folder:{tmp_path}", image_size=32, channels=1)
    assert gray.sample_shape == (1, 32, 32)


def test_folder_relative_path_resolves_against_data_root(tmp_path) -> None:
    _gray_folder(tmp_path / "faces")
    ds = load_dataset("folder:faces", data_root=tmp_path, image_size=8)
    assert len(ds) == 16 and ds.sample_shape == (1, 8, 8)


def test_folder_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'file.png'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(DatasetError, match="no PNG or JPEG"):
        load_dataset(f"folder:{empty}")
    bad = _gray_folder(tmp_path / "bad")
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(DatasetError, match="broken.png"):
        load_dataset(f"folder:{bad}", image_size=8)
    with pytest.raises(DatasetError, match="no path"):
        load_dataset("folder:")


def test_too_few_samples(tmp_path) -> None:
    _gray_folder(tmp_path, n=5)
    with pytest.raises(DatasetError, match="5 samples; at least 16"):
        load_dataset(f"folder:{tmp_path}", image_size=8)
    assert len(load_dataset(f"folder:{tmp_path}", image_size=8, min_samples=5)) == 5


# ---- npz: -------------------------------------------------------------------------------


def test_npz_vectors_and_images(tmp_path) -> None:
    vec = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "v.npz", x=vec, y=np.zeros(40))
    ds = load_dataset("npz:v.npz", data_root=tmp_path)
    assert (ds.kind, ds.sample_shape) == ("vector", (3,))
    np.testing.assert_array_equal(ds.data.numpy(), vec)
    assert dataset_kind(f"npz:{tmp_path / 'v.npz'}") == "vector"

    u8 = np.random.default_rng(1).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    u8[0, 0, 0, 0], u8[0, 0, 0, 1] = 0, 255
    np.save(tmp_path / "hwc.npy", u8)
    ds = load_dataset(f"npz:{tmp_path / 'hwc.npy'}")
    assert ds.sample_shape == (3, 16, 16)
    assert float(ds.data.min()) == -1.0 and float(ds.data.max()) == 1.0
    assert math.isclose(float(ds.data[3, 1, 2, 5]), u8[3, 2, 5, 1] / 127.5 - 1, abs_tol=1e-6)

    unit = np.random.default_rng(2).random((20, 1, 8, 8)).astype(np.float32)  # [0, 1] -> scaled
    np.savez(tmp_path / "chw.npz", images=unit)
    ds = load_dataset(f"npz:{tmp_path / 'chw.npz'}", image_size=32)
    assert ds.sample_shape == (1, 32, 32) and float(ds.data.min()) >= -1.0
    gray = np.random.default_rng(3).random((20, 28, 28)) * 2 - 1  # (N, H, W) in [-1, 1]
    np.save(tmp_path / "hw.npy", gray)
    ds = load_dataset(f"npz:{tmp_path / 'hw.npy'}")
    assert ds.sample_shape == (1, 28, 28)
    np.testing.assert_allclose(ds.data[:, 0].numpy(), gray, atol=1e-6)
    assert dataset_kind(f"npz:{tmp_path / 'hw.npy'}") == "image"


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((20,), dtype=np.float32), "shape"),
        (np.zeros((20, 2, 3, 4, 5), dtype=np.float32), "shape"),
        (np.zeros((20, 8, 8, 5), dtype=np.float32), "1 or 3 channels"),
        (np.array([[np.nan, 1.0]] * 20), "NaN"),
        (np.full((20, 8, 8), np.nan), "NaN"),
        (np.full((20, 8, 8), 3.0), r"\[0, 1\] or \[-1, 1\]"),
        (np.array([["a", "b"]] * 20), "dtype"),
        (np.zeros((20, 9, 9), dtype=np.uint8), "image_size"),
        (np.zeros((3, 2), dtype=np.float32), "3 samples"),
    ],
)
def test_npz_bad_arrays_are_named(tmp_path, array, message) -> None:
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"npz:{tmp_path / 'a.npy'}")


def test_npz_file_errors(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(DatasetError, match="not a file"):
        load_dataset(f"npz:{tmp_path}")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="junk.npz"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    np.savez(tmp_path / "two.npz", a=np.zeros((20, 2)), b=np.zeros((20, 2)))
    with pytest.raises(DatasetError, match="'x'"):
        load_dataset(f"npz:{tmp_path / 'two.npz'}")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 20, dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="obj.npy"):
        load_dataset(f"npz:{tmp_path / 'obj.npy'}")


def test_unknown_name_and_bad_options() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'.*ring-8"):
        load_dataset("cifar")
    with pytest.raises(DatasetError, match="unknown dataset"):
        dataset_kind("cifar")
    for size in (9, 7, 256):
        with pytest.raises(DatasetError, match=f"image_size {size}"):
            load_dataset("digits", image_size=size)
    with pytest.raises(DatasetError, match="channels"):
        load_dataset("digits", channels=2)


def test_folder_rgb_files_of_grey_pictures_load_as_one_channel(tmp_path) -> None:
    rng = np.random.default_rng(4)
    for i in range(16):
        grey = rng.integers(0, 256, (16, 16), dtype=np.uint8)
        _write(tmp_path / f"r{i}.png", np.stack([grey] * 3, axis=-1), "PNG")  # RGB file, no hue
    ds = load_dataset(f"folder:{tmp_path}", image_size=16)
    assert ds.sample_shape == (1, 16, 16)
    first = np.asarray(Image.open(tmp_path / "r0.png").convert("L"), dtype=np.float32)
    np.testing.assert_allclose(ds.data[0, 0].numpy(), first / 127.5 - 1, atol=1e-6)


def test_dataset_kind_reads_only_the_header(tmp_path) -> None:
    np.savez(tmp_path / "v.npz", x=np.zeros((20, 2)), other=np.zeros((20, 3, 8, 8)))
    np.save(tmp_path / "i.npy", np.zeros((20, 8, 8), dtype=np.uint8))
    assert dataset_kind("npz:v.npz", data_root=tmp_path) == "vector"
    assert dataset_kind("npz:i.npy", data_root=tmp_path) == "image"
    assert dataset_kind("folder:anything") == "image"
    with pytest.raises(DatasetError, match="does not exist"):
        dataset_kind("npz:missing.npy", data_root=tmp_path)
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="junk.npy"):
        dataset_kind("npz:junk.npy", data_root=tmp_path)
    np.savez(tmp_path / "two.npz", a=np.zeros((20, 2)), b=np.zeros((20, 2)))
    with pytest.raises(DatasetError, match="'x'"):
        dataset_kind("npz:two.npz", data_root=tmp_path)


@pytest.mark.parametrize("base", ["digits", pytest.param("mnist-5k", marks=pytest.mark.slow)])
def test_held_out_split_is_fixed_disjoint_and_a_fifth_of_each_class(base) -> None:
    images, labels = labelled_images(base)
    mask = held_out_mask(labels)
    assert np.array_equal(mask, held_out_mask(labels))  # the same on every call
    train, train_labels = labelled_images(f"{base}:train")
    test, test_labels = labelled_images(f"{base}:test")
    # by position: test is the masked part, train the rest, so together they are the whole set
    np.testing.assert_array_equal(test, images[mask])
    np.testing.assert_array_equal(train, images[~mask])
    np.testing.assert_array_equal(test_labels, labels[mask])
    np.testing.assert_array_equal(train_labels, labels[~mask])
    assert len(train) + len(test) == len(images)
    for c in range(10):
        assert (test_labels == c).sum() == round(0.2 * (labels == c).sum())
    ds = load_dataset(f"{base}:test")
    assert ds.labels is not None and ds.classes == tuple("0123456789")
    np.testing.assert_array_equal(ds.data.numpy(), test)
    np.testing.assert_array_equal(ds.labels.numpy(), test_labels)


EXACT = "donot_use_mm_for_euclid_dist"  # cdist's matrix-product shortcut is not exactly 0


def test_stacked_mnist_stacks_three_mnist_5k_train_digits() -> None:
    ds = load_dataset("stacked-mnist")
    assert (ds.kind, ds.sample_shape) == ("image", (3, 28, 28))
    batch = ds.sample(16, _gen(5))
    assert batch.shape == (16, 3, 28, 28) and batch.dtype == torch.float32
    assert torch.equal(batch, ds.sample(16, _gen(5)))
    assert not torch.equal(batch, ds.sample(16, _gen(6)))
    images, labels = labelled_images("mnist-5k")
    held_out = torch.from_numpy(held_out_mask(labels))
    flat = torch.from_numpy(images).flatten(1)  # (5000, 784)
    channels = batch.reshape(16 * 3, 28 * 28)  # each channel, one grey image
    nearest = torch.cdist(channels, flat, compute_mode=EXACT).argmin(dim=1)
    assert torch.equal(flat[nearest], channels)  # each an mnist-5k image ...
    assert not held_out[nearest].any()  # ... of the :train split


# ---- labels -------------------------------------------------------------------------------


def test_sample_labelled_draws_what_sample_draws_with_the_labels() -> None:
    ds = load_dataset("digits:train")
    x, y = ds.sample_labelled(32, _gen(3))
    assert torch.equal(x, ds.sample(32, _gen(3)))  # the RNG stream is the same
    rows = ((ds.data[:, None] == x[None]).flatten(2).all(dim=2)).float().argmax(dim=0)  # (32,)
    assert torch.equal(ds.labels[rows], y)
    assert ds.classes == tuple("0123456789") and sum(ds.class_counts().values()) == len(ds)


def test_stacked_mnist_labels_read_the_three_digits_as_one_number() -> None:
    ds = load_dataset("stacked-mnist")
    assert ds.num_classes == 1000 and ds.classes[42] == "042" and ds.class_counts() == {}
    batch, labels = ds.sample_labelled(8, _gen(5))
    assert torch.equal(batch, ds.sample(8, _gen(5)))
    images, digit_labels = labelled_images("stacked-mnist")
    flat = torch.from_numpy(images).flatten(1)  # (4000, 784): the :train digits
    nearest = torch.cdist(batch.reshape(24, -1), flat, compute_mode=EXACT).argmin(dim=1)
    digits = torch.from_numpy(digit_labels)[nearest].view(8, 3)
    assert torch.equal(labels, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])


def test_a_folder_of_class_sub_folders_is_labelled_in_sorted_order(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for name, count in (("zebra", 5), ("ant", 7), ("moth", 6)):
        for i in range(count):
            img = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            _write(tmp_path / "set" / name / ("deep" if i % 2 else "") / f"{i}.png", img, "PNG")
    ds = load_dataset(f"folder:{tmp_path / 'set'}", image_size=8)
    assert ds.classes == ("ant", "moth", "zebra")
    assert ds.class_counts() == {"ant": 7, "moth": 6, "zebra": 5}
    _write(tmp_path / "set" / "loose.png", np.zeros((8, 8), np.uint8), "PNG")
    loose = load_dataset(f"folder:{tmp_path / 'set'}", image_size=8)
    assert loose.labels is None and loose.classes == ()  # an image outside every class


def test_an_npz_y_array_labels_the_samples(tmp_path) -> None:
    x = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    y = np.arange(20) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert ds.classes == ("0", "1", "2", "3") and torch.equal(ds.labels, torch.from_numpy(y))
    np.savez(tmp_path / "b.npz", x=x, y=y, classes=np.array(["n", "e", "s", "w", "up"]))
    named = load_dataset(f"npz:{tmp_path / 'b.npz'}")
    assert named.classes == ("n", "e", "s", "w", "up") and named.class_counts()["up"] == 0
    np.save(tmp_path / "c.npy", x)
    assert load_dataset(f"npz:{tmp_path / 'c.npy'}").labels is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"y": np.arange(19)}, r"shape \(19,\); expected \(20,\)"),
        ({"y": np.zeros((20, 2), np.int64)}, "one per sample"),
        ({"y": np.full(20, 0.5)}, "not whole numbers; expected integers"),
        ({"y": np.full(20, -1)}, "labels start at 0"),
        ({"y": np.arange(20) % 4, "classes": np.array(["a", "b"])}, "hold 3, but there are 2"),
        ({"y": np.zeros(20, np.int64), "classes": np.array(["a", "a"])}, "repeats a name"),
        ({"classes": np.array(["a", "b"])}, "holds no 'y'"),
    ],
)
def test_bad_labels_are_named(tmp_path, extra, message) -> None:
    x = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "bad.npz", x=x, **extra)
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
