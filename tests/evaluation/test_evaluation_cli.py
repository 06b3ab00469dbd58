"""`python -m evaluation`: classifier, reference and score, through `python -m` and main()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation import cli
from models.checkpoint import save_generator, write_default_version
from models.config import MLPConfig
from models.factory import build_generator

ROOT = Path(__file__).resolve().parents[2]
TINY_IMAGES = '{"g_width": 8, "d_width": 8}'


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def _ring_model(model_dir: Path, *versions: int) -> None:
    arch = MLPConfig(z_dim=2, data_dim=2, g_hidden=8, g_layers=1, d_hidden=8, d_layers=1)
    for version in versions:
        save_generator(
            model_dir, "ring", build_generator(arch), arch, step=version, dataset="ring-8",
            loss="ns",
        )  # fmt: skip


def test_classifier_prints_accuracy_sha_and_cache_path(tmp_path: Path) -> None:
    done = _run("-m", "evaluation", "classifier", "--dataset", "digits", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    assert header.split()[:2] == ["dataset", "held-out"]
    name, accuracy, sha, path = row.split()
    record = json.loads(Path(path).with_suffix(".json").read_text())
    assert name == "digits" and sha == record["sha256"] and float(accuracy) >= 0.95


@pytest.mark.slow
def test_score_of_a_trained_model_reproduces_the_checkpoint_metrics(tmp_path: Path) -> None:
    models = tmp_path / "models"
    trained = _run(
        "-m", "training", "--dataset", "digits:train", "--steps", "4", "--checkpoint-every", "4",
        "--batch-size", "32", "--arch-config", TINY_IMAGES, "--model-dir", str(models),
        "--name", "tiny", "--device", "cpu", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    recorded = json.loads((models / "tiny" / "00000004.json").read_text())["metrics"]

    done = _run("-m", "evaluation", "score", "tiny", "--model-dir", str(models), "--json",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["model"], report["dataset"], report["seed"]) == ("tiny@4", "digits:train", 0)
    assert report["samples"] == 10_000
    assert report["metrics"] == pytest.approx(recorded, rel=1e-9)  # the run's seed, its samples
    assert report["metrics"]["fd"] > report["metrics"]["fd_real"]  # 4 steps: far from real


def test_a_model_of_a_set_without_a_scorer_exits_2_naming_it(tmp_path: Path) -> None:
    _ring_model(tmp_path, 10)
    done = _run("-m", "evaluation", "score", "ring@10", "--model-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "ring@10" in done.stderr and "'ring-8'" in done.stderr and "no scorer" in done.stderr


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("absent", "no checkpoint of model 'absent'"),
        ("ring@99", "no such checkpoint"),
        ("ring@latest", "must be a whole number"),
        ("Bad Name", "must match"),
    ],
)
def test_score_errors_are_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, message: str
) -> None:
    _ring_model(tmp_path, 10)
    assert cli.main(["score", ref, "--model-dir", str(tmp_path)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_score_without_a_version_takes_the_promoted_one_else_the_latest(tmp_path: Path) -> None:
    _ring_model(tmp_path, 10, 20)
    assert cli.resolve_checkpoint(tmp_path, "ring") == tmp_path / "ring" / "00000020.json"
    write_default_version(tmp_path, "ring", 10)
    assert cli.resolve_checkpoint(tmp_path, "ring") == tmp_path / "ring" / "00000010.json"
    assert cli.resolve_checkpoint(tmp_path, "ring@20") == tmp_path / "ring" / "00000020.json"


def test_reference_prints_the_real_scores(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reference", "--dataset", "digits", "--json"]) == 0
    digits = json.loads(capsys.readouterr().out)["digits"]
    assert 0 < digits["fd_real"] < 5 and digits["classifier_accuracy"] >= 0.95
    assert cli.main(["reference", "--dataset", "digits"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "digits (real data)" and lines[1].split() == ["metric", "value"]
    assert {line.split()[0] for line in lines[2:]} == set(digits)


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--seed", "-1"], "--seed"), (["--device", "toaster"], "not a torch device")],
)
def test_bad_options_are_refused_by_argparse(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["score", "ring", *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
