"""The training loop: callbacks, files, reproducibility, stop and resume, errors.

Every run here is a tiny MLP on ring-8 (or an 8x8 DCGAN on digits) for a few dozen steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import list_checkpoints, load_generator, read_meta
from training.config import TrainConfig
from training.errors import TrainingError
from training.loop import TrainResult, dry_run, lr_scale, train
from training.progress import ProgressReport
from training.state import load_state, resume_path

TINY_MLP = {"g_hidden": 16, "g_layers": 2, "d_hidden": 16, "d_layers": 2, "d_maxout": 2}


def tiny(**changes) -> TrainConfig:
    values = {
        "dataset": "ring-8",
        "name": "tiny",
        "steps": 40,
        "batch_size": 32,
        "checkpoint_every": 20,
        "log_every": 10,
        "arch_config": {**TINY_MLP, "pack": 2},
        "device": "cpu",
    }
    values.update(changes)
    return TrainConfig(**values)


def _weights(model_dir: Path, name: str = "tiny") -> bytes:
    return sorted((model_dir / name).glob("*.safetensors"))[-1].read_bytes()


def test_callbacks_files_and_checkpoints(tmp_path: Path) -> None:
    reports: list[ProgressReport] = []
    stops = []
    result = train(
        tiny(), tmp_path, progress=reports.append, should_stop=lambda: stops.append(1) or False
    )
    assert isinstance(result, TrainResult)
    assert result.name == "tiny" and result.steps_done == 40 and not result.stopped
    assert result.published == ["tiny@20", "tiny@40"]
    assert len(stops) == 40  # should_stop is asked before every step
    assert [r.step for r in reports] == [10, 20, 30, 40]
    assert [r.published for r in reports] == [None, "tiny@20", None, "tiny@40"]
    assert [r.final for r in reports] == [False, False, False, True]
    last = reports[-1]
    assert last.total_steps == 40 and last.elapsed_s > 0
    assert set(last.losses) == {"d", "g"} and all(np.isfinite(list(last.losses.values())))
    assert 0.0 <= last.d_real <= 1.0 and 0.0 <= last.d_fake <= 1.0 and last.g_grad_norm > 0
    assert set(last.flags) == {"d_overpowers_g", "mode_collapse"}
    assert set(last.metrics) >= {"modes_covered", "high_quality_pct", "kl_to_uniform"}
    assert result.final_metrics == last.metrics

    folder = tmp_path / "tiny"
    metas = [read_meta(p) for p in list_checkpoints(tmp_path)]
    assert [m.version for m in metas] == [20, 40]
    meta = metas[-1]
    assert meta.dataset == "ring-8" and meta.loss == "non-saturating"
    assert meta.hyperparameters["batch_size"] == 32 and meta.hyperparameters["name"] == "tiny"
    assert meta.metrics == last.metrics and meta.arch.pack == 2
    run = folder / "run"
    names = {p.name for p in run.iterdir()}
    assert {"samples-00000020.png", "samples-00000040.png", "samples.png", "loss.png"} <= names
    assert {"metrics.jsonl", "options.json", "resume.pt"} <= names
    assert (run / "samples.png").read_bytes() == (run / "samples-00000040.png").read_bytes()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    options = json.loads((run / "options.json").read_text())
    assert options["arch"] == "mlp" and options["arch_config"]["g_hidden"] == 16

    generator, _ = load_generator(list_checkpoints(tmp_path)[-1])
    assert not generator.training
    z = torch.randn(1, 2)
    with torch.no_grad():  # eval mode: one sample alone equals itself inside a batch
        assert torch.allclose(generator(z), generator(torch.cat([z, torch.randn(7, 2)]))[:1])


def test_same_seed_same_weights_and_another_seed_differs(tmp_path: Path) -> None:
    train(tiny(steps=15, checkpoint_every=15), tmp_path / "a")
    train(tiny(steps=15, checkpoint_every=15), tmp_path / "b")
    train(tiny(steps=15, checkpoint_every=15, seed=1), tmp_path / "c")
    assert _weights(tmp_path / "a") == _weights(tmp_path / "b")
    assert _weights(tmp_path / "a") != _weights(tmp_path / "c")


@pytest.mark.parametrize("stop_at", [7, 20])  # mid-interval, and right at a publish
def test_stopped_and_resumed_run_ends_bit_identical(tmp_path: Path, stop_at: int) -> None:
    # With a learning-rate decay over the second half: a resumed run takes the same rates.
    config = tiny(steps=30, checkpoint_every=20, log_every=5, lr_decay_from=0.5)
    whole = train(config, tmp_path / "whole")

    calls = {"n": 0}

    def stop_once() -> bool:
        calls["n"] += 1
        return calls["n"] == stop_at + 1  # asked before step stop_at + 1

    part = train(config, tmp_path / "split", should_stop=stop_once)
    assert part.stopped and part.steps_done == stop_at
    state = load_state(resume_path(tmp_path / "split", "tiny"))
    assert state is not None and state["step"] == stop_at
    reports: list[ProgressReport] = []
    rest = train(config, tmp_path / "split", progress=reports.append, resume=True)
    assert not rest.stopped and rest.steps_done == 30
    assert reports[0].step > stop_at and reports[-1].final
    assert rest.published == whole.published == ["tiny@20", "tiny@30"]
    assert _weights(tmp_path / "split") == _weights(tmp_path / "whole")
    final_g = {
        run: load_state(resume_path(tmp_path / run, "tiny"))["g"] for run in ("whole", "split")
    }
    for key, value in final_g["whole"].items():
        assert torch.equal(value, final_g["split"][key]), key
    lines = (tmp_path / "split" / "tiny" / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10, 15, 20, 25, 30]


def test_lr_decay_schedule_is_linear_to_zero_after_its_start() -> None:
    assert [lr_scale(s, 10, 0.5) for s in range(10)] == [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert all(lr_scale(s, 10, 1.0) == 1.0 for s in range(10))
    assert lr_scale(0, 10, 0.0) == 1.0 and lr_scale(9, 10, 0.0) == pytest.approx(0.1)


def test_lr_decay_changes_the_run_and_sets_the_optimizers_rates(tmp_path: Path) -> None:
    train(tiny(steps=15, checkpoint_every=15, lr_decay_from=1.0), tmp_path / "constant")
    train(tiny(steps=15, checkpoint_every=15, lr_decay_from=0.25), tmp_path / "decayed")
    assert _weights(tmp_path / "constant") != _weights(tmp_path / "decayed")
    state = load_state(resume_path(tmp_path / "decayed", "tiny"))
    lr_g = json.loads(state["config"])["lr_g"]  # as resolved (a preset may set it)
    last_lr = state["opt_g"]["param_groups"][0]["lr"]
    assert last_lr == pytest.approx(lr_g * lr_scale(14, 15, 0.25))


def test_resume_of_a_finished_run_reports_and_returns(tmp_path: Path) -> None:
    train(tiny(steps=20), tmp_path)
    reports: list[ProgressReport] = []
    again = train(tiny(steps=20), tmp_path, progress=reports.append, resume=True)
    assert again.steps_done == 20 and again.published == ["tiny@20"]
    assert len(reports) == 1 and reports[0].final
    longer = train(tiny(steps=30), tmp_path, resume=True)  # a longer recipe continues
    assert longer.steps_done == 30 and longer.published[-1] == "tiny@30"


def test_resume_without_state_starts_fresh_and_a_taken_name_is_refused(tmp_path: Path) -> None:
    assert train(tiny(steps=5), tmp_path, resume=True).steps_done == 5
    with pytest.raises(TrainingError, match="already exists"):
        train(tiny(steps=5), tmp_path)


def test_resume_with_a_changed_recipe_is_refused(tmp_path: Path) -> None:
    train(tiny(steps=10), tmp_path)
    with pytest.raises(TrainingError, match="loss"):
        train(tiny(steps=20, loss="hinge"), tmp_path, resume=True)
    changed = {**TINY_MLP, "pack": 2, "g_hidden": 8}
    with pytest.raises(TrainingError, match="arch_config"):
        train(tiny(steps=20, arch_config=changed), tmp_path, resume=True)


def test_corrupt_resume_state_is_a_clear_error(tmp_path: Path) -> None:
    train(tiny(steps=10), tmp_path)
    path = resume_path(tmp_path, "tiny")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TrainingError, match="truncated or corrupt"):
        train(tiny(steps=20), tmp_path, resume=True)


def test_checkpoint_missing_after_a_kill_is_published_on_resume(tmp_path: Path) -> None:
    train(tiny(steps=20), tmp_path)
    for suffix in (".json", ".safetensors"):  # killed after the state, before the checkpoint
        (tmp_path / "tiny" / f"00000020{suffix}").unlink()
    again = train(tiny(steps=20), tmp_path, resume=True)
    assert again.published == ["tiny@20"]
    assert [read_meta(p).version for p in list_checkpoints(tmp_path)] == [20]


def test_nan_losses_raise_an_actionable_error(tmp_path: Path) -> None:
    huge = np.full((64, 2), 3e38, dtype=np.float32)  # finite data that overflows in D
    np.save(tmp_path / "huge.npy", huge)
    config = tiny(dataset=f"npz:{tmp_path / 'huge.npy'}", steps=5)
    with pytest.raises(TrainingError, match=r"NaN or infinite at step 1.*lower the learning"):
        train(config, tmp_path / "models")


def test_batch_size_must_be_a_multiple_of_pack(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="multiple of arch_config.pack"):
        train(tiny(batch_size=30, arch_config={**TINY_MLP, "pack": 4}), tmp_path)
    assert not (tmp_path / "tiny").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"loss": "minimax"},
        {"loss": "hinge", "d_steps": 2},
        {"loss": "wgan-gp", "beta1": 0.0, "beta2": 0.9},
        {"r1_gamma": 1.0, "optimizer": "sgd", "lr_g": 0.01, "lr_d": 0.01},
        {"ema_decay": 0.0, "arch_config": {**TINY_MLP, "pack": 1, "spectral_norm": True}},
    ],
)
def test_every_loss_and_option_trains(tmp_path: Path, changes: dict) -> None:
    reports: list[ProgressReport] = []
    train(
        tiny(steps=6, log_every=3, checkpoint_every=6, **changes), tmp_path, progress=reports.append
    )
    assert [r.step for r in reports] == [3, 6]
    assert all(np.isfinite(v) for r in reports for v in r.losses.values())


def test_ema_decay_zero_publishes_the_raw_generator(tmp_path: Path) -> None:
    train(tiny(steps=10, checkpoint_every=10, ema_decay=0.0), tmp_path)
    state = load_state(resume_path(tmp_path, "tiny"))
    ema = state["ema"]["module"]
    for key, value in state["g"].items():
        if "running" not in key and "num_batches" not in key:  # batch norm is recalibrated
            assert torch.equal(value, ema[key]), key


def test_dcgan_on_digits_with_wgan_gp(tmp_path: Path) -> None:
    config = TrainConfig(
        dataset="digits", name="digits", steps=3, batch_size=16, checkpoint_every=3,
        log_every=3, loss="wgan-gp", arch_config={"g_width": 8, "d_width": 8, "z_dim": 8},
    )  # fmt: skip
    result = train(config, tmp_path)
    meta = read_meta(list_checkpoints(tmp_path)[-1])
    assert meta.arch.family == "dcgan" and meta.arch.d_batchnorm is False
    assert meta.output_shape == [1, 8, 8]
    assert (tmp_path / "digits" / "run" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    # A labelled image set is scored at each checkpoint, and the scores travel everywhere
    metrics = result.final_metrics
    assert metrics["fd"] > metrics["fd_real"] > 0  # 3 steps are far from the real data
    assert 0.0 <= metrics["class_kl"] <= np.log(10) and 0.1 <= metrics["confidence"] <= 1.0
    assert metrics["parzen_nats"] < metrics["parzen_real_nats"]
    assert meta.metrics == metrics
    rows = [json.loads(line) for line in (tmp_path / "digits" / "run" / "metrics.jsonl").open()]
    assert rows[-1]["metrics"] == metrics and rows[-1]["published"] == "digits@3"


def test_stacked_mnist_run_reports_its_mode_count(tmp_path: Path) -> None:
    config = TrainConfig(
        dataset="stacked-mnist", name="stacked", steps=2, batch_size=8, checkpoint_every=2,
        log_every=2, arch_config={"g_width": 4, "d_width": 4, "z_dim": 32},
    )  # fmt: skip
    metrics = train(config, tmp_path).final_metrics
    meta = read_meta(list_checkpoints(tmp_path)[-1])
    assert meta.output_shape == [3, 28, 28] and meta.metrics == metrics
    assert metrics["num_modes"] == 1000 and 1 <= metrics["modes_covered"] <= 1000
    assert metrics["kl_to_uniform"] > 0.5  # an untrained generator is far from 1,000 modes


def test_dry_run_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    resolved, losses = dry_run(tiny())
    assert resolved.name == "tiny" and np.isfinite(losses["d"]) and np.isfinite(losses["g"])
    assert list(tmp_path.iterdir()) == []


def test_bf16_unset_means_image_models_on_a_cpu_that_has_it_natively(monkeypatch) -> None:
    from models.config import DCGANConfig, MLPConfig
    from training import loop

    image, points = DCGANConfig(image_size=8, channels=1), MLPConfig()
    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(loop, "native_bf16", lambda device, native=native: native)
        assert loop.uses_bf16(None, image, cpu) is native
        assert loop.uses_bf16(True, points, cpu) is native  # asked for: any model
        assert loop.uses_bf16(None, points, cpu) is False  # mixtures stay float32
        assert loop.uses_bf16(False, image, cpu) is False
        # On CUDA only when asked: float32 is the faster default there (docs/benchmarks.md).
        assert loop.uses_bf16(None, image, torch.device("cuda")) is False
        assert loop.uses_bf16(True, image, torch.device("cuda")) is native
