"""The demo: the built-in recipe ``torchshrink/recipes/demo.yaml`` on Fashion-MNIST, ending with its report.

A ResNet-20 teacher; a ResNet-8 (width 0.25) budget trained four ways (plain, Hinton KD, DIST, and residual
KD with S + A split inside the same budget); the residual-KD model pruned and fine-tuned with KD, then
int8. Every stage is measured side by side and the run folder gets ``report.md`` and ``report.html``.
It is an ordinary recipe run (:func:`torchshrink.pipeline.run_recipe`): it saves after every step and
resumes from the last finished one when run again.

>>> r = demo_recipe(DemoConfig(train_size=2000, epochs=1))
>>> r["data"]["train_size"], [(n, s["epochs"]) for step in r["steps"] for n, s in step.items() if "epochs" in s]
(2000, [('train', 1), ('train', 1), ('distill', 1), ('distill', 1), ('distill', 1), ('finetune', 2)])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import load_yaml

RECIPE = Path(__file__).parent / "recipes" / "demo.yaml"


@dataclass
class DemoConfig:
    """What ``torchshrink demo`` may change in the built-in recipe (0/None keeps the recipe's value)."""

    out: str = "runs/demo"
    data_root: str | None = None
    train_size: int = 0
    test_size: int = 0
    epochs: int | None = None
    threads: int = 0
    seed: int | None = None
    progress: bool = True
    overwrite: bool = False

    def validate(self) -> list[str]:
        from .config import check_ranges

        p = check_ranges(self, {"epochs": ">= 1"}) if self.epochs is not None else []
        return p + check_ranges(self, {"train_size": ">= 0", "test_size": ">= 0"})


def demo_recipe(cfg: DemoConfig, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The built-in demo recipe with ``cfg``'s changes and ``KEY=VALUE`` overrides applied."""
    from .config import apply_overrides

    r = load_yaml(RECIPE)
    r["out"] = cfg.out
    data = r.setdefault("data", {})
    for key, value in (("root", cfg.data_root), ("train_size", cfg.train_size), ("test_size", cfg.test_size)):
        if value:
            data[key] = value
    if cfg.threads:
        r["threads"] = cfg.threads
    if cfg.seed is not None:
        r["seed"] = cfg.seed
    if cfg.epochs is not None:  # every step that trains ("finetune" keeps its short recovery)
        for step in r["steps"]:
            for name, settings in step.items():
                if isinstance(settings, dict) and "epochs" in settings and name != "finetune":
                    settings["epochs"] = cfg.epochs
    return apply_overrides(r, list(overrides)) if overrides else r


def run_demo(cfg: DemoConfig, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """Run the demo recipe (resuming a finished or interrupted demo in ``cfg.out``); returns ``report.md``."""
    from .pipeline import run_recipe

    out = run_recipe(demo_recipe(cfg, overrides), overwrite=cfg.overwrite, progress=cfg.progress)
    report = out / "report.md"
    return report.read_text() if report.is_file() else f"no report was written in {out}"
