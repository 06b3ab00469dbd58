"""The GAN training loop (Goodfellow et al., 2014, Algorithm 1), driven through callbacks.

    for each generator step:
        (1) k times: update D on a real batch and a generated one
        (2) update G through D; update the EMA of G's weights
        every log_every steps: diagnostics -> progress(report)
        every checkpoint_every steps and at the end: publish the EMA generator, save the
        resume state -> progress(report with published="name@version")

The loop imports no job system: a caller passes `progress` and `should_stop`. On the CPU a
fixed seed gives bit-identical runs, stopped-and-resumed or not: data and noise come from
their own seeded torch.Generators, whose states the resume file keeps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from models.atomic import atomic_write_text
from models.checkpoint import list_checkpoints, version_stem
from models.config import DCGANConfig, MLPConfig
from models.factory import build_pair
from models.latent_codes import code_indices, code_loss
from models.precision import native_bf16
from training import publish as pub
from training.config import TrainConfig
from training.datasets import Dataset, load_dataset, mixture_for
from training.diagnostics import FailureWatch, batch_diversity, grouped_diversity
from training.ema import EMA
from training.errors import TrainingError
from training.losses import d_loss, g_loss, gradient_penalty, r1_penalty
from training.plots import append_jsonl
from training.presets import resolve_config
from training.progress import ProgressCallback, ProgressReport, StopCallback
from training.state import capture_rng, load_state, restore_rng, resume_path, save_state

if TYPE_CHECKING:
    from evaluation.evaluator import Scorer

# Resuming with any of these changed would load state into a different experiment.
_MUST_MATCH = ("dataset", "arch", "arch_config", "loss", "optimizer", "image_size", "channels")

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    name: str
    steps_done: int
    stopped: bool
    published: list[str] = field(default_factory=list)
    final_metrics: dict[str, float] = field(default_factory=dict)


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for, but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def uses_bf16(choice: bool | None, arch: MLPConfig | DCGANConfig, device: torch.device) -> bool:
    """Whether a run autocasts to bfloat16: `choice` (TrainConfig.bf16) where the device
    computes it natively. Unset: image models on such a CPU only. On CUDA float32 stays the
    default because autocast's casts cost more than they save for networks this small (0.85x
    the float32 steps per second on an H200, docs/benchmarks.md). The 2-D and 1-D mixtures'
    points and mode metrics stay in float32, where their presets were tuned."""
    if choice is None:
        choice = isinstance(arch, DCGANConfig) and device.type == "cpu"
    return choice and native_bf16(device)


def train(
    config: TrainConfig,
    model_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    resume: bool = False,
    data_root: Path | None = None,
    arch: MLPConfig | DCGANConfig | None = None,
) -> TrainResult:
    """Train, publishing checkpoints to <model_dir>/<name>/. See the module docstring.

    With `arch`, `config` is a complete recipe as `resolve_config` returned it (a training
    job's stored recipe) and is trained exactly as it is: nothing is resolved again, and data
    whose shape no longer fits the recipe is an error."""
    model_dir = Path(model_dir)
    # Resolving without data is cheap: it only names the run.
    name = config.name if arch is not None else resolve_config(config, data_root=data_root)[0].name
    assert name is not None
    state = load_state(resume_path(model_dir, name)) if resume else None
    if state is None and (_has_checkpoints(model_dir, name) or _has_state(model_dir, name)):
        hint = "" if resume else " (resume it: --resume, or resume=True)"
        raise TrainingError(
            f"model {name!r} already exists in {model_dir}{hint}; choose another name"
        )
    dataset = load_dataset(
        config.dataset, image_size=config.image_size, channels=config.channels, data_root=data_root
    )
    if arch is None:
        resolved, arch = resolve_config(config, dataset.sample_shape, classes=dataset.classes)
    elif tuple(arch.output_shape) != tuple(dataset.sample_shape):
        raise TrainingError(
            f"dataset {config.dataset!r} now holds samples of shape {dataset.sample_shape}, "
            f"but the recipe was made for {tuple(arch.output_shape)}; submit the job again"
        )
    elif arch.num_classes and arch.num_classes != dataset.num_classes:
        raise TrainingError(
            f"dataset {config.dataset!r} now has {dataset.num_classes} classes, but the "
            f"recipe was made for {arch.num_classes}; submit the job again"
        )
    else:
        resolved = config
    run = Run(resolved, arch, dataset, model_dir)
    if state is not None:
        run.load(state)
    else:
        run.start_files()
    return run.loop(progress or (lambda report: None), should_stop or (lambda: False))


def dry_run(
    config: TrainConfig, *, data_root: Path | None = None
) -> tuple[TrainConfig, dict[str, float]]:
    """Resolve, load and check the data, build the networks, run one step; write nothing."""
    dataset = load_dataset(
        config.dataset, image_size=config.image_size, channels=config.channels, data_root=data_root
    )
    resolved, arch = resolve_config(config, dataset.sample_shape, classes=dataset.classes)
    run = Run(resolved, arch, dataset, Path("unused-by-a-dry-run"))
    run._train_step(want_grad_norm=True)
    run.step = 1
    run._check_finite()
    d, g = (float(v) for v in run._last["losses"].cpu())
    return resolved, {"d": d, "g": g}


def _has_checkpoints(model_dir: Path, name: str) -> bool:
    return any(p.parent.name == name for p in list_checkpoints(model_dir))


def _has_state(model_dir: Path, name: str) -> bool:
    return resume_path(model_dir, name).exists()


class Run:
    """One training run's networks, optimizers, RNGs and bookkeeping."""

    def __init__(
        self,
        config: TrainConfig,
        arch: MLPConfig | DCGANConfig,
        dataset: Dataset,
        model_dir: Path,
    ) -> None:
        assert config.name is not None
        self.config, self.arch, self.dataset = config, arch, dataset
        self.model_dir = model_dir
        self.folder = pub.run_folder(model_dir, config.name)
        self.mixture = mixture_for(config.dataset)
        self.device = pick_device(config.device)
        self.autocast = uses_bf16(config.bf16, arch, self.device)
        if config.bf16 and not self.autocast:
            log.warning("bf16 asked for, but %s has no native bfloat16: training in float32",
                        self.device)  # fmt: skip
        log.info("training %s in %s", config.name,
                 "bf16 autocast" if self.autocast else "float32")  # fmt: skip
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # speed over bit-reproducibility on GPUs
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            g_net, d_net = build_pair(arch)
        if isinstance(arch, DCGANConfig):
            # NHWC convolutions: about 1.3x the steps per second on CPU (oneDNN), and the
            # layout tensor cores want
            g_net = g_net.to(memory_format=torch.channels_last)
            d_net = d_net.to(memory_format=torch.channels_last)
        self.G, self.D = g_net.to(self.device), d_net.to(self.device)
        self.ema = EMA(self.G, config.ema_decay)
        self.opt_g = _optimizer(self.G, config.lr_g, config)
        self.opt_d = _optimizer(self.D, config.lr_d, config)
        self.data_gen = torch.Generator().manual_seed(config.seed)
        self.noise_gen = torch.Generator(self.device).manual_seed(config.seed + 1)
        self.step = 0
        self.elapsed_before = 0.0
        self.history: list[dict[str, Any]] = []
        self.published: list[str] = []
        self.metrics: dict[str, float] = {}
        self.watch = FailureWatch()
        # Fixed batches for the collapse check: the sample grid's noise and one real batch.
        self.fixed_z = pub.fixed_noise(config.seed, 64, arch.z_dim, self.device)  # (64, z)
        # A conditional run's look: 8 classes, 8 noises each, so collapse within a class shows
        k = arch.num_classes
        self.fixed_labels = (torch.arange(64, device=self.device) // 8) % k if k else None
        real_gen = torch.Generator().manual_seed(config.seed)
        if k and dataset.labels is not None:  # spread within a class needs pairs of a class
            batch, labels = dataset.sample_labelled(512, real_gen)
            self.real_diversity = grouped_diversity(batch, labels)
        else:
            self.real_diversity = batch_diversity(dataset.sample(64, real_gen))
        self._sums = torch.zeros(2, device=self.device)  # D and G loss sums since last report
        self._count = 0
        self._last: dict[str, torch.Tensor] = {}
        self._scorer_cache: tuple[Scorer | None] | None = None

    # ---- state -------------------------------------------------------------------------

    def start_files(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "metrics.jsonl").unlink(missing_ok=True)
        self._write_options()

    def _write_options(self) -> None:
        text = json.dumps(self.config.model_dump(mode="json"), indent=2, sort_keys=True)
        atomic_write_text(self.folder / "options.json", text + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": json.dumps(self.config.model_dump(mode="json"), sort_keys=True),
            "step": self.step,
            "elapsed_s": self.elapsed_before + (time.monotonic() - self._t0),
            "g": self.G.state_dict(),
            "d": self.D.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": capture_rng({"data": self.data_gen, "noise": self.noise_gen}),
            "history": self.history,
            "published": self.published,
            "metrics": self.metrics,
            "loss_sums": self._sums.detach().cpu(),
            "loss_count": self._count,
        }

    def load(self, state: dict[str, Any]) -> None:
        saved = json.loads(state["config"])
        now = self.config.model_dump(mode="json")
        changed = [k for k in _MUST_MATCH if saved.get(k) != now.get(k)]
        if changed:
            raise TrainingError(
                f"cannot resume {self.config.name!r}: {', '.join(changed)} changed since the run "
                f"was saved (was {', '.join(repr(saved.get(k)) for k in changed)}); "
                "resume with the same recipe, or train under another name"
            )
        try:
            self.G.load_state_dict(state["g"])
            self.D.load_state_dict(state["d"])
            self.ema.load_state_dict(state["ema"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            restore_rng(state["rng"], {"data": self.data_gen, "noise": self.noise_gen})
        except (RuntimeError, KeyError, ValueError) as exc:
            raise TrainingError(
                f"cannot resume {self.config.name!r}: the saved state does not fit ({exc})"
            ) from None
        self.step = int(state["step"])
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.history = list(state["history"])
        self.published = list(state.get("published", []))
        self.metrics = dict(state.get("metrics", {}))
        self._sums = state["loss_sums"].to(self.device)
        self._count = int(state["loss_count"])
        self._trim_metrics_log()
        self._write_options()

    def _trim_metrics_log(self) -> None:
        """Drop rows logged after the saved step (the killed attempt's tail is replayed)."""
        path = self.folder / "metrics.jsonl"
        if not path.exists():
            return
        rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [r for r in rows if _row_step(r) <= self.step]
        atomic_write_text(path, "".join(r + "\n" for r in kept))

    # ---- the loop ----------------------------------------------------------------------

    def loop(self, progress: ProgressCallback, should_stop: StopCallback) -> TrainResult:
        cfg = self.config
        assert cfg.name is not None
        self._t0 = time.monotonic()
        self.G.train()
        self.D.train()
        self._republish_if_missing(progress)
        if self.step >= cfg.steps and self.history:  # resumed after the last step
            progress(self._make_report(self.history[-1], published=None, final=True))
            return self._result(stopped=False)
        while self.step < cfg.steps:
            if should_stop():
                save_state(resume_path(self.model_dir, cfg.name), self.state_dict())
                return self._result(stopped=True)
            self._train_step(want_grad_norm=self._is_report_step(self.step + 1))
            self.step += 1
            if self.device.type == "cpu":
                self._check_finite()
            publish = self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps
            if publish or self.step % cfg.log_every == 0:
                self._check_finite()
                self._report(progress, publish=publish, final=self.step == cfg.steps)
        return self._result(stopped=False)

    def _is_report_step(self, step: int) -> bool:
        cfg = self.config
        return step % cfg.log_every == 0 or step % cfg.checkpoint_every == 0 or step == cfg.steps

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _noise(self, batch: int) -> torch.Tensor:
        z_dim = self.arch.z_dim
        return torch.randn(batch, z_dim, generator=self.noise_gen, device=self.device)  # (B, z)

    def _train_step(self, *, want_grad_norm: bool) -> None:
        cfg, pack = self.config, self.arch.pack
        batch = cfg.batch_size
        if cfg.lr_decay_from < 1.0:
            scale = lr_scale(self.step, cfg.steps, cfg.lr_decay_from)
            _set_lr(self.opt_d, cfg.lr_d * scale)
            _set_lr(self.opt_g, cfg.lr_g * scale)
        # (1) Update D: maximize log D(x) + log(1 - D(G(z))) (or the chosen loss's D side)
        self.D.requires_grad_(True)
        conditional = self.arch.num_classes > 0
        codes = getattr(self.arch, "latent_codes", ())
        for _ in range(cfg.d_steps):
            real, y = self.dataset.sample_labelled(batch, self.data_gen)
            real = real.to(self.device, non_blocking=True)
            # A conditional G draws the classes of the real batch: the data's class frequencies
            labels = y.to(self.device, non_blocking=True) if conditional and y is not None else None
            z = self._noise(batch)
            with torch.no_grad(), self._autocast():
                fake = self.G(z, labels)  # (B, *sample_shape)
            if cfg.r1_gamma > 0:
                real.requires_grad_(True)
            with self._autocast():
                real_logits = self.D(real, labels)  # (B / pack,)
                if codes:
                    fake_logits, code_logits = self.D.forward_with_codes(fake)
                else:
                    fake_logits = self.D(fake, labels)  # (B / pack,)
            loss_d = d_loss(cfg.loss, real_logits, fake_logits)
            if codes:
                loss_d = loss_d + cfg.code_weight * code_loss(
                    code_logits, code_indices(z, codes), codes
                )
            if cfg.loss == "wgan-gp" and cfg.gp_weight > 0:
                gp = gradient_penalty(self.D, real, fake.float(), self.noise_gen, pack, labels)
                loss_d = loss_d + cfg.gp_weight * gp
            if cfg.r1_gamma > 0:
                loss_d = loss_d + 0.5 * cfg.r1_gamma * r1_penalty(real_logits, real, pack)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        # (2) Update G through a frozen D: minimize the G side of the loss
        self.D.requires_grad_(False)
        z = self._noise(batch)
        with self._autocast():
            if codes:
                fake_logits_g, code_logits = self.D.forward_with_codes(self.G(z))
            else:
                fake_logits_g = self.D(self.G(z, labels), labels)  # (B / pack,)
        loss_g = g_loss(cfg.loss, fake_logits_g)
        if codes:
            recovery = code_loss(code_logits, code_indices(z, codes), codes)
            loss_g = loss_g + cfg.code_weight * recovery
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if want_grad_norm:
            grads = [p.grad for p in self.G.parameters() if p.grad is not None]
            self._last["g_grad_norm"] = torch.linalg.vector_norm(
                torch.stack(torch._foreach_norm(grads))
            )
        self.opt_g.step()
        self.ema.update(self.G)
        self._sums += torch.stack([loss_d.detach(), loss_g.detach()])
        self._count += 1
        self._last["real_logits"] = real_logits.detach()
        self._last["fake_logits"] = fake_logits.detach()
        self._last["losses"] = torch.stack([loss_d.detach(), loss_g.detach()])

    def _check_finite(self) -> None:
        losses = self._last.get("losses")
        if losses is None or bool(torch.isfinite(losses).all()):
            return
        d, g = (float(v) for v in losses.cpu())
        raise TrainingError(
            f"losses became NaN or infinite at step {self.step} (d={d}, g={g}); lower the "
            "learning rates (lr_g, lr_d), or stabilize D with spectral_norm or r1_gamma; the "
            "last published checkpoint and resume state are kept"
        )

    # ---- reports and checkpoints -------------------------------------------------------

    def _diagnostics(self) -> dict[str, Any]:
        sums = (self._sums / max(1, self._count)).tolist()
        self._sums.zero_()
        self._count = 0
        with torch.no_grad():
            # G in train mode on the fixed noise, on copies of its batch-norm buffers so the
            # look does not change the training state
            buffers = {k: v.clone() for k, v in self.G.named_buffers()}
            fake = torch.func.functional_call(
                self.G, buffers, (self.fixed_z, self.fixed_labels)
            )  # (64, ...)
        fake_div = grouped_diversity(fake, self.fixed_labels)
        d_real = float(torch.sigmoid(self._last["real_logits"].float()).mean())
        d_fake = float(torch.sigmoid(self._last["fake_logits"].float()).mean())
        grad = float(self._last.get("g_grad_norm", torch.tensor(math.nan)))
        watch = self.watch.update(
            fake_diversity=fake_div,
            real_diversity=self.real_diversity,
            d_fake=d_fake,
            g_grad_norm=grad,
        )
        return {
            "losses": {"d": sums[0], "g": sums[1]},
            "d_real": d_real,
            "d_fake": d_fake,
            "g_grad_norm": grad,
            "flags": {
                "d_overpowers_g": bool(watch["d_overpowering"]),
                "mode_collapse": bool(watch["mode_collapse"]),
            },
            "fake_diversity": fake_div,
        }

    def _report(self, progress: ProgressCallback, *, publish: bool, final: bool) -> None:
        cfg = self.config
        assert cfg.name is not None
        row: dict[str, Any] = {"step": self.step, **self._diagnostics()}
        snap, ref = None, None
        if publish:
            snap = pub.take_snapshot(
                self.ema.module, cfg.seed, self.arch.z_dim, self.step, self.dataset, self.mixture,
                self._scorer(), self.arch.num_classes,
            )  # fmt: skip
            self.metrics = snap.metrics
            ref = f"{cfg.name}@{self.step}"
            if ref not in self.published:
                self.published.append(ref)
        row.update(
            elapsed_s=self.elapsed_before + (time.monotonic() - self._t0),
            metrics=dict(self.metrics),
            published=ref,
            final=final,
        )
        self.history.append(row)
        append_jsonl(self.folder / "metrics.jsonl", row)
        if snap is not None:
            # state first: a run killed before the checkpoint is written publishes on resume
            save_state(resume_path(self.model_dir, cfg.name), self.state_dict())
            pub.write_snapshot(self.model_dir, cfg, self.arch, snap, self.dataset, self.mixture)
            pub.save_loss_curves(self.folder, self.history)
        progress(self._make_report(row, published=ref, final=final))

    def _scorer(self) -> Scorer | None:
        """The image-quality scorer for a labelled set, built at the first checkpoint (it may
        train and cache the evaluation classifier once per machine)."""
        if self._scorer_cache is None:
            from evaluation.evaluator import scorer_for  # scipy and the classifier, only here

            self._scorer_cache = (scorer_for(self.dataset.spec, self.dataset.sample_shape),)
        return self._scorer_cache[0]

    def _republish_if_missing(self, progress: ProgressCallback) -> None:
        """A run killed between saving its state and publishing publishes on resume."""
        cfg = self.config
        assert cfg.name is not None
        last = self.history[-1] if self.history else None
        if last is None or last["step"] != self.step or not last.get("published"):
            return
        if (self.model_dir / cfg.name / f"{version_stem(self.step)}.json").exists():
            return
        snap = pub.take_snapshot(
            self.ema.module, cfg.seed, self.arch.z_dim, self.step, self.dataset, self.mixture,
            self._scorer(), self.arch.num_classes,
        )  # fmt: skip
        ref = pub.write_snapshot(self.model_dir, cfg, self.arch, snap, self.dataset, self.mixture)
        pub.save_loss_curves(self.folder, self.history)
        progress(self._make_report(last, published=ref, final=bool(last.get("final"))))

    def _make_report(self, row: dict[str, Any], *, published: str | None, final: bool):
        return ProgressReport(
            step=row["step"],
            total_steps=self.config.steps,
            elapsed_s=float(row["elapsed_s"]),
            losses=dict(row["losses"]),
            d_real=row["d_real"],
            d_fake=row["d_fake"],
            g_grad_norm=row["g_grad_norm"],
            flags=dict(row["flags"]),
            metrics=dict(row["metrics"]),
            published=published,
            final=final,
        )

    def _result(self, *, stopped: bool) -> TrainResult:
        assert self.config.name is not None
        return TrainResult(
            name=self.config.name,
            steps_done=self.step,
            stopped=stopped,
            published=list(self.published),
            final_metrics=dict(self.metrics),
        )


def lr_scale(step: int, steps: int, decay_from: float) -> float:
    """1 until `decay_from * steps`, then linearly down to 1 / remaining at the last step.
    A pure function of the step, so a resumed run takes the same rates."""
    start = decay_from * steps
    if step < start:
        return 1.0
    return max(0.0, (steps - step) / max(1.0, steps - start))


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _optimizer(module: torch.nn.Module, lr: float, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(module.parameters(), lr=lr, momentum=cfg.momentum)
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2))


def _row_step(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 0
