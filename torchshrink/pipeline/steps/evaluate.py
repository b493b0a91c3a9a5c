"""Steps ``evaluate`` (accuracy, optionally under attack) and ``measure`` (cost) of the current model."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config import check_ranges
from ...engine import evaluate as evaluate_model
from ...errors import TorchshrinkError
from ...measure import measure as measure_model
from ..registry import register_step
from .base import StepContext, StepOutput


def robustness_fn():
    """``torchshrink.measure.robustness.adversarial_accuracy`` if this version has it, else None."""
    try:
        from ...measure.robustness import adversarial_accuracy
    except ImportError:
        return None
    return adversarial_accuracy


@dataclass
class EvaluateStep:
    """Top-1/top-5 on the test set; each ``attack_eps`` (pixel units) adds top-1 under FGSM and PGD (``pgd_steps``)."""

    target: Literal["model", "teacher"] = "model"
    attack_eps: list[float] = field(default_factory=list)
    pgd_steps: int = 10
    max_batches: int = 0

    def validate(self) -> list[str]:
        p = [f"attack_eps: each epsilon must be in (0, 1] (pixel units), got {e}" for e in self.attack_eps if not 0 < e <= 1]
        if self.pgd_steps < 1:
            p.append(f"pgd_steps: must be >= 1, got {self.pgd_steps}")
        if self.max_batches < 0:
            p.append(f"max_batches: must be >= 0 (0 = all), got {self.max_batches}")
        if self.attack_eps and robustness_fn() is None:
            p.append("attack_eps: needs torchshrink.measure.robustness, which this version does not have yet; remove it")
        return p


@dataclass
class MeasureSettings:
    """How models are measured: latency at batch 1 and ``batch_size``, ``repeats`` timed runs (``latency``: time)."""

    batch_size: int = 64
    repeats: int = 30
    latency: bool = True

    def validate(self) -> list[str]:
        return check_ranges(self, {"batch_size": ">= 1", "repeats": ">= 1"})


@dataclass
class MeasureStep(MeasureSettings):
    """Parameters, size, MACs and latency of the current model at batch 1 and ``batch_size``, in its runtime."""

    target: Literal["model", "teacher"] = "model"


@register_step("evaluate", EvaluateStep, after_quantize=True, makes_model=False)
def evaluate(ctx: StepContext, cfg: EvaluateStep) -> StepOutput:
    """Accuracy of the current model on the test set (and under FGSM/PGD where asked)."""
    model = ctx.teacher if cfg.target == "teacher" else ctx.model
    r = evaluate_model(model, ctx.loaders.test, ctx.device, max_batches=cfg.max_batches or None)
    metrics = {"test_top1": r["top1"], "test_top5": r["top5"], "test_loss": r["loss"]}
    for eps in cfg.attack_eps:
        try:
            r = robustness_fn()(model, ctx.loaders.test, epsilon=eps, pgd_steps=cfg.pgd_steps,
                                max_batches=cfg.max_batches or None, seed=ctx.seed)
        except RuntimeError as e:  # e.g. integer kernels have no gradients
            raise TorchshrinkError(f"accuracy under attack needs gradients through the model ({str(e).splitlines()[0][:120]}); "
                                   "put the evaluate step with attack_eps before quantize") from None
        metrics[f"robust_fgsm_{eps:g}"] = r["fgsm_top1"]
        metrics[f"robust_pgd_{eps:g}"] = r["pgd_top1"]
    print(f"[{ctx.label}] " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()), flush=True)
    return StepOutput(metrics=metrics)


@register_step("measure", MeasureStep, after_quantize=True, makes_model=False)
def measure(ctx: StepContext, cfg: MeasureStep) -> StepOutput:
    """Cost of the current model now (the report also measures every stage side by side at the end)."""
    model = ctx.teacher if cfg.target == "teacher" else ctx.model
    m = measure_model(model.eval(), ctx.example, name=ctx.label, batch_size=cfg.batch_size, repeats=cfg.repeats,
                      latency=cfg.latency)
    timing = (f", latency b1 {m.latency_ms_b1:.3f} ms, b{cfg.batch_size} {m.latency_ms_bn:.2f} ms"
              if m.latency_ms_b1 is not None else "")
    print(f"[{ctx.label}] in {m.runtime}: params {m.params}, MACs {m.macs}{timing}", flush=True)
    return StepOutput(metrics={"measure": m.to_dict()})
