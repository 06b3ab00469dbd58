"""The inference path without HTTP: batch-norm folding, the exact-bucket calibration (checked
on fresh latents, not the ones it calibrated on), and the encoders' fixed byte layout."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from sample_service_harness import trained_looking

from models.config import DCGANConfig, MLPConfig
from models.latent import latent_batch
from models.output import to_uint8_images
from models.precision import cpu_has_native_bf16
from service import encoding
from service.inference import (
    REFERENCE_BATCH,
    PointProjection,
    SubPixelConvTranspose,
    bucket_ladder,
    calibrate,
    fold_batchnorm,
    inference_dtype,
    input_rows,
    optimize_generator,
    serving_module,
)

ARCHS = {
    "dcgan": DCGANConfig(image_size=16, channels=3, z_dim=32, g_width=16, d_width=8),
    "mlp": MLPConfig(z_dim=2, g_hidden=64, g_layers=3, d_hidden=16),
    "mlp-shortcut": MLPConfig(z_dim=2, g_hidden=64, g_layers=3, d_hidden=16, g_shortcut_gain=3.0),
}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_folding_batch_norm_keeps_the_function(arch: str) -> None:
    cfg = ARCHS[arch]
    g = trained_looking(cfg)
    fast = optimize_generator(g)
    assert not any(isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)
                   for m in fast.modules())  # fmt: skip
    z = torch.from_numpy(latent_batch(3, 0, 32, cfg.z_dim))
    with torch.inference_mode():
        torch.testing.assert_close(fast(z), g(z), rtol=1e-4, atol=1e-5)
    assert len(fold_batchnorm(g.net)) < len(g.net)


@pytest.mark.parametrize(
    ("cin", "cout", "h", "w", "bias"),
    [(8, 3, 5, 7, True), (16, 1, 14, 14, False), (4, 4, 1, 2, True)],
)
def test_a_sub_pixel_layer_is_the_transposed_convolution(
    cin: int, cout: int, h: int, w: int, bias: bool
) -> None:
    torch.manual_seed(cout)
    layer = torch.nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias).double()
    assert SubPixelConvTranspose.fits(layer)
    x = torch.randn(3, cin, h, w, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(SubPixelConvTranspose(layer)(x), layer(x), rtol=0, atol=1e-12)
    assert not SubPixelConvTranspose.fits(torch.nn.ConvTranspose2d(cin, 64, 4, 2, 1))
    assert not SubPixelConvTranspose.fits(torch.nn.ConvTranspose2d(cin, cout, 3, 1, 1))


def test_a_point_projection_is_the_first_transposed_convolution() -> None:
    layer = torch.nn.ConvTranspose2d(10, 6, 4, 1, 0).double()
    x = torch.randn(5, 10, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(PointProjection(layer)(x), layer(x), rtol=0, atol=1e-12)


def test_a_dcgan_generator_is_served_rewritten_with_the_same_function() -> None:
    for cfg in (ARCHS["dcgan"], DCGANConfig(image_size=28, channels=1, z_dim=16, g_width=8,
                                             extra_layers=2, num_classes=3)):  # fmt: skip
        g = trained_looking(cfg)
        fast = optimize_generator(g)
        kinds = [type(m).__name__ for m in fast.net]
        assert kinds[0] == "PointProjection" and "SubPixelConvTranspose" in kinds
        z = torch.from_numpy(latent_batch(4, 0, 16, cfg.z_dim))
        labels = torch.arange(16) % 3 if cfg.num_classes else None
        with torch.inference_mode():
            want = g(z, labels) if labels is not None else g(z)
            got = fast(z, labels) if labels is not None else fast(z)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("max_batch", [8, 64, 100])
def test_calibrated_buckets_are_exact_on_fresh_latents(arch: str, max_batch: int) -> None:
    cfg = ARCHS[arch]
    fast = optimize_generator(trained_looking(cfg))
    cal = calibrate(fast, cfg.z_dim, max_batch, torch.device("cpu"))
    assert cal.exact and list(cal.buckets) == sorted(set(cal.buckets))
    assert cal.max_rows >= min(max_batch, cal.buckets[-1])
    assert set(cal.buckets) <= set(bucket_ladder(max_batch))
    z = torch.from_numpy(latent_batch(99, 1000, REFERENCE_BATCH, cfg.z_dim))  # unseen z
    with torch.inference_mode():
        reference = fast(z)  # (64, ...)
        rng = np.random.default_rng(0)
        for size in cal.buckets:
            rows = min(size, REFERENCE_BATCH)
            for _ in range(3):
                pick = rng.permutation(REFERENCE_BATCH)[:rows]
                batch = torch.zeros(size, cfg.z_dim)
                batch[:rows] = z[pick]
                assert torch.equal(fast(batch)[:rows], reference[pick]), (size, rows)


def test_the_inference_dtype_choice() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for choice in ("auto", "float32", "bfloat16"):  # points are returned as exact float32
        assert inference_dtype(choice, cpu, "vector") is torch.float32
    assert inference_dtype("float32", cpu, "image") is torch.float32
    assert inference_dtype("bfloat16", cpu, "image") is torch.bfloat16
    assert inference_dtype("bfloat16", cuda, "image") is torch.bfloat16
    assert inference_dtype("auto", cuda, "image") is torch.float32  # not measured on a GPU
    native = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert inference_dtype("auto", cpu, "image") is native


@pytest.mark.parametrize("num_classes", [0, 300])
def test_bfloat16_buckets_are_exact_and_pixels_stay_close(num_classes: int) -> None:
    cfg = DCGANConfig(image_size=16, channels=3, z_dim=32, g_width=16, d_width=8,
                      num_classes=num_classes)  # fmt: skip
    g = trained_looking(cfg)
    bf16 = serving_module(g, cfg.z_dim, num_classes, torch.bfloat16)
    f32 = serving_module(g, cfg.z_dim, num_classes, torch.float32)
    cal = calibrate(bf16, cfg.z_dim, 64, torch.device("cpu"), num_classes=num_classes)
    assert cal.exact and cal.dtype == "bfloat16" and len(cal.buckets) >= 1
    labels = np.arange(REFERENCE_BATCH) * 4 % num_classes if num_classes else None
    rows = torch.from_numpy(input_rows(latent_batch(5, 0, REFERENCE_BATCH, cfg.z_dim), labels))
    with torch.inference_mode():
        reference = bf16(rows)  # (64, 3, 16, 16) bfloat16
        for size in cal.buckets:  # any bucket, any position: the reference's bits
            n = min(size, REFERENCE_BATCH)
            batch = torch.zeros(size, rows.shape[1])
            batch[:n] = rows.flip(0)[:n]
            assert torch.equal(bf16(batch)[:n], reference.flip(0)[:n]), size
        if num_classes:  # class 299 is read from its float32 column, not from bfloat16 (298)
            z, y = rows[:, : cfg.z_dim], torch.from_numpy(labels)
            direct = bf16.generator(z.to(torch.bfloat16), y)
            assert torch.equal(direct, reference)
        pixels = to_uint8_images(reference).astype(int)
        exact = to_uint8_images(f32(rows)).astype(int)
    assert reference.dtype is torch.bfloat16
    assert np.abs(pixels - exact).max() <= 2  # bfloat16 keeps about 3 significant digits
    assert (pixels != exact).mean() < 0.1


def test_bucket_ladder() -> None:
    steps = [1, 2, 4, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64]
    assert bucket_ladder(64) == steps
    assert bucket_ladder(8) == steps  # the reference batch is always a bucket
    assert bucket_ladder(100) == [*steps, 80, 96, 100]
    assert bucket_ladder(30) == sorted([*steps, 30])  # max_batch is always a bucket
    ladder = bucket_ladder(1024)
    assert all(b / a <= 2 for a, b in zip(ladder, ladder[1:], strict=False))
    assert all(b / a <= 1.25 for a, b in zip(ladder, ladder[1:], strict=False) if a >= 8)


def test_encoders_have_a_fixed_layout() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)  # (n, H, W, C)
    files = encoding.pngs(images, 1)
    archive = encoding.zip_of_pngs(files, seed=11, offset=4)
    assert archive == encoding.zip_of_pngs(encoding.pngs(images, 1), seed=11, offset=4)
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert names == [f"seed-11-{i}.png" for i in range(4, 9)]
    for data, img in zip(files, images, strict=True):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), img)
    assert encoding.grid_shape(1) == (1, 1) and encoding.grid_shape(5) == (2, 3)
    assert encoding.grid_shape(16) == (4, 4) and encoding.grid_shape(17) == (4, 5)
    grid = np.asarray(Image.open(io.BytesIO(encoding.grid(images, 1))))
    assert grid.shape == (12, 21, 3)
    assert np.array_equal(grid[6:12, 7:14], images[4]) and not grid[6:, 14:].any()
    big = np.asarray(Image.open(io.BytesIO(encoding.grid(images, 1, scale=3, padding=2))))
    assert big.shape == (2 * 18 + 3 * 2, 3 * 21 + 4 * 2, 3)  # (rows, cols) = (2, 3)
    assert np.array_equal(big[2:20, 2:23], images[0].repeat(3, axis=0).repeat(3, axis=1))
    assert (big[:2] == 255).all() and (big[:, 23:25] == 255).all()  # white padding
    assert encoding.grid_scale(8, 8) == 8 and encoding.grid_scale(28, 28) == 3
    assert encoding.grid_scale(64, 64) == 1
    gray = encoding.png(images[0, :, :, :1], 1)
    assert Image.open(io.BytesIO(gray)).mode == "L"
    loaded = np.load(io.BytesIO(encoding.npy(images)), allow_pickle=False)
    assert np.array_equal(loaded, images)


def test_a_coded_generator_reads_its_codes_from_float32_z_when_served_in_bfloat16() -> None:
    from models.dcgan import DCGANGenerator

    cfg = DCGANConfig(image_size=8, channels=1, z_dim=32, g_width=8, d_width=8, latent_codes=(10,))
    generator = DCGANGenerator(cfg).eval()
    z = torch.from_numpy(latent_batch(3, 0, 4, 32))
    z[:, :10] = -1.0
    z[:, 0], z[:, 1] = 2.0, 2.001  # the same bfloat16 value; in float32 code 1 is the larger
    assert z[0, 0].to(torch.bfloat16) == z[0, 1].to(torch.bfloat16)
    module = serving_module(generator, 32, 0, torch.bfloat16)
    seen = []
    first = next(m for m in module.modules() if isinstance(m, PointProjection))
    first.register_forward_pre_hook(lambda _, args: seen.append(args[0].flatten(1)))
    with torch.no_grad():
        images = module(z)
    assert images.dtype == torch.bfloat16 and images.shape == (4, 1, 8, 8)
    one_hots = seen[0][:, 32:].float()  # (4, 10) beside z
    assert one_hots.sum(dim=1).tolist() == [1.0] * 4 and one_hots.argmax(dim=1).tolist() == [1] * 4
