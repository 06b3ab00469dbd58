"""`python -m training` and `python -m training.sample`: options, config files, errors, output.

Most cases call main() in-process (fast); one run goes through `python -m` for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import save_generator
from models.config import DCGANConfig, MLPConfig
from models.factory import build_generator
from training import cli, sample
from training.presets import MIXTURE_2D

ROOT = Path(__file__).resolve().parents[2]
TINY = '{"g_hidden": 16, "g_layers": 2, "d_hidden": 16, "d_layers": 2, "d_maxout": 2}'


def _cli(*args: str) -> list[str]:
    return ["--no-progress", "--device", "cpu", *args]


def test_python_m_training_runs_and_prints_where_things_are(tmp_path: Path) -> None:
    config = tmp_path / "recipe.yaml"
    config.write_text(f"dataset: ring-8\nsteps: 4\nbatch_size: 32\narch_config: {TINY}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "training", "--config", str(config), "--steps", "6",
         "--name", "cli-run", "--model-dir", str(tmp_path / "models"), "--log-every", "3"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    checkpoint = tmp_path / "models" / "cli-run" / "00000006.json"  # the flag beat the file
    assert f"checkpoint: {checkpoint}" in done.stdout
    assert f"samples: {tmp_path / 'models' / 'cli-run' / 'run' / 'samples.png'}" in done.stdout
    assert checkpoint.is_file()
    options = json.loads((checkpoint.parent / "run" / "options.json").read_text())
    assert options["batch_size"] == 32 and options["steps"] == 6
    assert options["lr_g"] == MIXTURE_2D.train["lr_g"]  # unset: the ring-8 preset's


def test_dry_run_prints_the_resolved_config_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    code = cli.main(
        _cli("--dataset", "grid-25", "--dry-run", "--model-dir", str(models),
             "--arch-config", TINY, "--batch-size", "16")
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    resolved = json.loads(out[: out.rindex("}") + 1])
    assert resolved["name"] == "grid-25" and resolved["arch"] == "mlp"
    assert resolved["arch_config"]["data_dim"] == 2 and resolved["batch_size"] == 16
    assert "one step done" in out and not models.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "ring-8", "--steps", "0"], "steps: Input should be greater than"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--dataset", "ring-8", "--arch-config", '{"g_hidden": -3}'], "g_hidden"),
        (["--dataset", "ring-8", "--arch", "dcgan"], "arch 'dcgan' does not fit"),
        (["--dataset", "folder:/no/such/folder", "--dry-run"], "does not exist"),
        (["--dataset", "ring-8", "--resume"], "no saved state"),
        (["--steps", "3"], "--dataset is required"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = cli.main(_cli(*args, "--model-dir", str(tmp_path)))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_bad_config_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [unclosed\n")
    assert cli.main(_cli("--config", str(bad))) == 2
    assert "not valid YAML" in capsys.readouterr().err
    extra = tmp_path / "extra.json"
    extra.write_text('{"dataset": "ring-8", "colour": "red"}')
    assert cli.main(_cli("--config", str(extra))) == 2
    assert "colour" in capsys.readouterr().err


def test_argparse_rejects_bad_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--dataset", "ring-8", "--loss", "lsgan"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_resume_continues_a_stopped_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.config import TrainConfig
    from training.loop import train

    config = TrainConfig(
        dataset="ring-8", name="r", steps=8, batch_size=32, arch_config=json.loads(TINY)
    )
    calls = iter(range(100))
    train(config, tmp_path, should_stop=lambda: next(calls) == 5)
    args = ["--dataset", "ring-8", "--name", "r", "--steps", "8", "--batch-size", "32"]
    code = cli.main(_cli(*args, "--arch-config", TINY, "--model-dir", str(tmp_path), "--resume"))
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "r" / "00000008.json").is_file()
    assert cli.main(_cli(*args, "--arch-config", TINY, "--model-dir", str(tmp_path))) == 2
    assert "already exists" in capsys.readouterr().err


# ---- python -m training.sample ---------------------------------------------------------------


def _checkpoint(tmp_path: Path, arch) -> Path:
    torch.manual_seed(0)
    generator = build_generator(arch)
    generator.train()
    generator(torch.randn(32, arch.z_dim))  # batch-norm statistics off their defaults
    path, _ = save_generator(
        tmp_path / "models", "m", generator, arch, step=3, dataset="d", loss="hinge"
    )
    return path


def _sample(ckpt: Path, *args: str) -> int:
    return sample.main(["--checkpoint", str(ckpt), *args])


def test_sample_images_are_deterministic_and_named_by_seed_and_index(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, DCGANConfig(image_size=8, channels=3, z_dim=4, g_width=4))
    a, b, c, d = (tmp_path / x for x in "abcd")
    assert _sample(ckpt, "-n", "3", "--seed", "5", "--out", str(a)) == 0
    assert _sample(ckpt, "-n", "3", "--seed", "5", "--out", str(b)) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["seed-5-0.png", "seed-5-1.png", "seed-5-2.png"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    # sample 2 alone (offset 2) is sample 2 of the batch; another seed differs
    _sample(ckpt, "-n", "1", "--seed", "5", "--offset", "2", "--out", str(c))
    assert (c / "seed-5-2.png").read_bytes() == (a / "seed-5-2.png").read_bytes()
    _sample(ckpt, "-n", "1", "--seed", "6", "--out", str(d))
    assert (d / "seed-6-0.png").read_bytes() != (a / "seed-5-0.png").read_bytes()
    grid = tmp_path / "grid.png"
    assert _sample(ckpt, "-n", "4", "--grid", str(grid)) == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_vectors_and_truncation(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, MLPConfig(z_dim=2, data_dim=2, g_hidden=8, d_hidden=8))
    out = tmp_path / "pts"
    assert _sample(ckpt, "-n", "5", "--seed", "1", "--out", str(out)) == 0
    points = np.load(out / "seed-1.npy")
    doc = json.loads((out / "seed-1.json").read_text())
    assert points.shape == (5, 2) and doc["indices"] == [0, 1, 2, 3, 4]
    assert np.allclose(doc["points"], points)
    samples, kind = sample.draw(ckpt, 5, 1, truncation=0.0)
    assert kind == "vector" and torch.allclose(samples, samples[:1].expand(5, 2))  # z = 0


def test_sample_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = sample.main(["--checkpoint", str(tmp_path / "x.json"), "--out", str(tmp_path)])
    assert code == 2 and "no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        sample.main(["--checkpoint", "x.json", "-n", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2
