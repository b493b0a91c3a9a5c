"""The demo: compress a model on Fashion-MNIST end to end and print what each result costs.

``torchshrink demo`` trains a teacher and a small student with a short schedule, then every
registered demo stage adds its compressed models; all are measured side by side (top-1, parameters,
size on disk, MACs, latency at batch 1 and 64, alpha/beta/delta against the teacher). Trained models
are kept in the run folder, so a second run (or a resumed one) reuses them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .data import DataConfig, Loaders, build_loaders
from .engine import FitConfig, OptimConfig, fit
from .io import write_json, write_text
from .measure import count_macs, format_table, measure_many
from .models import create_model, load_model, save_model
from .registry import Registry

DEMO_STAGES = Registry("demo stage")


@dataclass
class DemoConfig:
    """Sizes and schedule of the demo; the defaults finish in minutes on 2 CPU cores."""

    out: str = "runs/demo"
    data_root: str | None = None
    train_size: int = 10000
    test_size: int = 0
    teacher: str = "resnet20"
    student: str = "resnet8"
    student_width: float = 0.5
    epochs: int = 6
    batch_size: int = 128
    lr: float = 0.1
    seed: int = 0
    threads: int = 2
    stages: list[str] = field(default_factory=lambda: ["all"])
    progress: bool = True

    def validate(self) -> list[str]:
        p = []
        if self.epochs < 1:
            p.append(f"epochs: must be >= 1, got {self.epochs}")
        if self.train_size < 0:
            p.append(f"train_size: must be >= 0, got {self.train_size}")
        return p


@dataclass
class DemoContext:
    """What stages share: the config, data, run folder, the trained teacher and student, and results."""

    cfg: DemoConfig
    loaders: Loaders
    out: Path
    models: dict[str, nn.Module] = field(default_factory=dict)
    size_bytes: dict[str, int] = field(default_factory=dict)
    macs: dict[str, int] = field(default_factory=dict)
    train_time: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fit_config(self, epochs: int | None = None, lr: float | None = None) -> FitConfig:
        return FitConfig(epochs=epochs or self.cfg.epochs, seed=self.cfg.seed,
                         optim=OptimConfig(lr=lr or self.cfg.lr, schedule="cosine", warmup_epochs=0.5, weight_decay=5e-4))

    def train_or_load(self, name: str, make: Callable[[], nn.Module], epochs: int | None = None) -> nn.Module:
        """Train ``make()`` into ``out/name`` (resuming), or load the finished model file if it exists."""
        folder = self.out / name
        path = folder / "model.pt"
        if path.exists():
            model = load_model(path)
            meta = torch.load(path, weights_only=True).get("meta", {})
            self.train_time[name] = meta.get("seconds_per_epoch")
            print(f"[{name}] reusing the trained model in {path}")
            return model
        model = make()
        result = fit(model, self.loaders.train, self.loaders.val, self.fit_config(epochs), out_dir=folder,
                     progress=self.cfg.progress, desc=name)
        save_model(model, path, meta={"seconds_per_epoch": result.seconds_per_epoch})
        self.train_time[name] = result.seconds_per_epoch
        return model


def register_stage(name: str, order: int) -> Callable:
    """Register ``fn(ctx) -> None`` that adds models to ``ctx.models``; stages run by ``order``."""
    def deco(fn: Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
        fn.order = order  # type: ignore[attr-defined]
        return DEMO_STAGES.register(name)(fn)

    return deco


@register_stage("teacher", order=0)
def _teacher(ctx: DemoContext) -> None:
    c = ctx.loaders.input_shape[0]
    ctx.models["teacher"] = ctx.train_or_load(
        "teacher", lambda: create_model(ctx.cfg.teacher, num_classes=ctx.loaders.num_classes, in_channels=c))


@register_stage("student", order=10)
def _student(ctx: DemoContext) -> None:
    c = ctx.loaders.input_shape[0]
    ctx.models["student"] = ctx.train_or_load(
        "student", lambda: create_model(ctx.cfg.student, num_classes=ctx.loaders.num_classes, in_channels=c,
                                        width=ctx.cfg.student_width))


@register_stage("residual_kd", order=20)
def _residual_kd(ctx: DemoContext) -> None:
    """Residual KD (M.3) with S and A split from the student's architecture (same cost), plus plain KD."""
    from .distill import KD, ResidualConfig, build_pair, train_residual
    from .distill.split import split_architecture

    c, nc, shape = ctx.loaders.input_shape[0], ctx.loaders.num_classes, ctx.loaders.input_shape
    teacher = ctx.models["teacher"].eval()
    student_arch = {"name": ctx.cfg.student, "width": ctx.cfg.student_width}
    kd_path = ctx.out / "kd" / "model.pt"
    if kd_path.exists():
        ctx.models["kd"] = load_model(kd_path)
    else:
        s = create_model(ctx.cfg.student, num_classes=nc, in_channels=c, width=ctx.cfg.student_width)
        res = fit(KD(s, teacher), ctx.loaders.train, ctx.loaders.val, ctx.fit_config(), out_dir=ctx.out / "kd",
                  progress=ctx.cfg.progress, desc="kd")
        save_model(s, kd_path, meta={"seconds_per_epoch": res.seconds_per_epoch})
        ctx.train_time["kd"] = res.seconds_per_epoch
        ctx.models["kd"] = s
    path = ctx.out / "residual_kd" / "model.pt"
    if path.exists():
        ctx.models["residual_kd"] = load_model(path)
        for p in teacher.parameters():
            p.requires_grad_(True)
        return
    split = split_architecture(ctx.cfg.student, nc, c, shape, features=teacher.num_features, ratio=0.25,
                               width=ctx.cfg.student_width)
    pair = build_pair(teacher, split.student, split.assistant)
    rec = train_residual(pair, teacher, ctx.loaders.train, ctx.loaders.val, ctx.fit_config(),
                         ResidualConfig(mode="m3", ce_weight=1.0), shape, out_dir=ctx.out / "residual_kd",
                         progress=ctx.cfg.progress)
    spe = rec["phases"][0][2]
    save_model(pair, path, meta={"seconds_per_epoch": spe})
    ctx.train_time["residual_kd"] = spe
    ctx.models["residual_kd"] = pair
    for p in teacher.parameters():  # distillers freeze the teacher; later stages may fine-tune copies of it
        p.requires_grad_(True)
    ctx.notes.append(f"residual_kd: RKD end to end (M.3) at the student's cost; {split.summary()}")


@register_stage("pruned", order=30)
def _pruned(ctx: DemoContext) -> None:
    """Structured pruning of the teacher to about half its MACs, then a 2-epoch recovery fine-tune."""
    import copy

    from .prune import StructuredConfig, prune_
    from .prune.recover import recover

    path = ctx.out / "pruned" / "model.pt"
    if path.exists():
        model = load_model(path)
        ctx.train_time["pruned"] = torch.load(path, weights_only=True).get("meta", {}).get("seconds_per_epoch")
        print(f"[pruned] reusing the pruned model in {path}")
    else:
        teacher = ctx.models["teacher"]
        model = copy.deepcopy(teacher).cpu()
        r = prune_(model, StructuredConfig(macs_ratio=0.5, search_steps=3), ctx.loaders.input_shape)
        print(f"[pruned] channel ratio {r.ratio:.2f}: MACs {r.macs_before} -> {r.macs_after}", flush=True)
        result = recover(model, ctx.loaders.train, ctx.loaders.val, ctx.fit_config(epochs=2, lr=0.02), teacher=teacher,
                         out_dir=path.parent, progress=ctx.cfg.progress, desc="pruned")
        save_model(model, path, meta={"seconds_per_epoch": result.seconds_per_epoch})
        ctx.train_time["pruned"] = result.seconds_per_epoch
    ctx.models["pruned"] = model
    ctx.notes.append("pruned: the teacher with whole channels removed (Torch-Pruning dependency graph, l2 importance) "
                     "to about half its MACs, fine-tuned 2 epochs with cross-entropy")


@register_stage("int8", order=40)
def _int8(ctx: DemoContext) -> None:
    """Post-training int8 of the teacher (per-channel weights, calibrated on 4 training batches)."""
    import os

    from .quant import PTQConfig, quantize_ptq

    path = ctx.out / "int8" / "model.pt"
    if path.exists():
        model = load_model(path)
        print(f"[int8] reusing the int8 model in {path}")
    else:
        cfg = PTQConfig(calib_batches=4)
        model = quantize_ptq(ctx.models["teacher"], ctx.loaders.train, cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(model, path)
    ctx.models["int8"] = model
    ctx.size_bytes["int8"] = os.path.getsize(path)
    ctx.macs["int8"] = count_macs(ctx.models["teacher"], ctx.loaders.input_shape)  # the same products, in int8
    ctx.notes.append("int8: the teacher after post-training static int8 quantization (torch.ao FX, x86 engine, "
                     "per-channel weights, histogram observer, 4 calibration batches); size is its model file, "
                     "MACs are the float teacher's (the same multiply-accumulates, done in int8)")


def run_demo(cfg: DemoConfig) -> str:
    """Run every demo stage, measure all models side by side, write ``report.md``; returns the table."""
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    loaders = build_loaders(DataConfig(name="fashion_mnist", root=cfg.data_root, train_size=cfg.train_size,
                                       test_size=cfg.test_size, batch_size=cfg.batch_size, seed=cfg.seed))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(cfg, loaders, out)
    names = sorted(DEMO_STAGES, key=lambda n: DEMO_STAGES.get(n).order)
    wanted = names if "all" in cfg.stages else [n for n in names if n in cfg.stages or n in ("teacher", "student")]
    for name in wanted:
        print(f"== demo stage: {name}", flush=True)
        DEMO_STAGES.get(name)(ctx)
    print("== measuring every model side by side (latency at batch 1 and 64)", flush=True)
    models = {k: m.cpu().eval() for k, m in ctx.models.items()}
    ms = measure_many(models, loaders.input_shape, loaders.test, batch_size=64, repeats=50, threads=cfg.threads,
                      size_bytes=ctx.size_bytes, macs=ctx.macs, train_time_per_epoch_s=ctx.train_time)
    table = format_table(list(ms.values()), base=ms["teacher"])
    minutes = (time.perf_counter() - t0) / 60
    text = (f"# torchshrink demo (Fashion-MNIST, {len(loaders.train.dataset)} training images, "
            f"{len(loaders.test.dataset)} test images)\n\n{table}\n\n"
            "alpha = teacher params / params (non-zero), beta = (a - a*) / a*, delta = teacher time / time "
            "(inference latency at batch 1 and 64, training time per epoch).\n")
    if ctx.notes:
        text += "\n" + "\n".join(f"- {n}" for n in ctx.notes) + "\n"
    text += f"\nTotal time: {minutes:.1f} min on {torch.get_num_threads()} threads.\n"
    write_text(out / "report.md", text)
    write_json(out / "metrics.json", {k: m.to_dict() for k, m in ms.items()})
    return text
