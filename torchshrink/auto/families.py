"""Candidate families: each proposes trunks (models to train) and tails (steps that end a recipe) for a model.

Trunk families: ``prune`` (structured channel pruning keeping 70 % ... 15 % of the MACs), ``lowrank`` (Tucker
factorization of the convolutions to a MACs target, layers kept only where timed faster), ``distill`` (Hinton KD
into smaller architectures of the model's own family, :mod:`.students`), ``residual`` (residual-error KD into a
student split into S + A of the same budget). Tail families: ``int8`` (static int8 with each engine this torch has,
on the original and on every trunk: prune + int8, student + int8, ...) and ``deep-compression`` (prune, share
weights, Huffman-code; only for size budgets, since it does not speed a model up). A family that does not apply
to the model (no registry architecture for students, no int8 engine) proposes nothing; ``runtime`` is the original
model itself exported to each runtime of the search's ``runtimes`` beyond eager, with no training. Adding a family
is one decorated function ``fn(setting) -> (trunks, candidates)``.

>>> from torchshrink.models import create_model
>>> from torchshrink.auto.config import AutoConfig
>>> s = Setting(create_model("resnet8", num_classes=4, in_channels=1), AutoConfig(size="0.5x"), (1, 16, 16))
>>> trunks, cands = FAMILIES.get("prune")(s)
>>> [t.label for t in trunks][:2], cands[0].tail
(['prune m0.7', 'prune m0.5'], [])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn

from ..registry import Registry
from .candidate import Candidate, Trunk
from .students import students_of

FAMILIES = Registry("candidate family")
ORIGINAL = Trunk("original", "original", trains=False)  # the model as it is: tails (int8, Deep Compression) apply to it

PRUNE_MACS = (0.7, 0.5, 0.35, 0.25, 0.15)
LOWRANK_MACS = (0.6, 0.4)
DEEP_COMPRESSION = ((0.8, 5), (0.9, 4))
INT8_ENGINES = ("x86", "fbgemm", "onednn")


@dataclass
class Setting:
    """What a family sees: the model, the search settings and the model's input shape (one example, no batch)."""

    model: nn.Module
    cfg: Any  # the search's AutoConfig (not imported: config.py checks family names against this registry)
    input_shape: tuple[int, ...]

    @property
    def engines(self) -> list[str]:
        """The int8 engines this torch has."""
        return [e for e in INT8_ENGINES if e in torch.backends.quantized.supported_engines]

    @property
    def round_to(self) -> int:
        """Channel counts in multiples of 8 (what CPU kernels like) for models whose layers have 16 or more."""
        widths = [m.out_channels for m in self.model.modules() if isinstance(m, nn.Conv2d)]
        return 8 if widths and min(widths) >= 16 else 1

    def finetune(self, epochs: int, student: bool) -> dict[str, Any]:
        """A training round of a trunk: the ``finetune`` step distilling from the original."""
        lr = self.cfg.student_lr if student else self.cfg.lr
        return {"finetune": {"epochs": epochs, "lr": lr, "distiller": self.cfg.distiller, "keep_zeros": True}}


Family = Callable[[Setting], tuple[list[Trunk], list[Candidate]]]


def own(trunks: list[Trunk]) -> list[Candidate]:
    """Each trunk as a candidate of its own (float, no tail)."""
    return [Candidate(t.label, t.family, t.key) for t in trunks]


@FAMILIES.register("prune")
def prune(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Structured pruning (dependency-aware channel removal) keeping each fraction of :data:`PRUNE_MACS`."""
    trunks = [Trunk(f"prune m{m}", "prune", steps=[{"prune": {"method": "structured", "macs": m,
                                                              "round_to": s.round_to}}]) for m in PRUNE_MACS]
    return trunks, own(trunks)


@FAMILIES.register("lowrank")
def lowrank(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Tucker-2 factorization of the kxk convolutions to the MACs targets of :data:`LOWRANK_MACS`, each layer kept
    only where it timed faster at the budget's batch size."""
    if not any(isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1) and min(m.in_channels, m.out_channels) >= 8
               for m in s.model.modules()):
        return [], []
    batch = 1 if "latency_b1" in s.cfg.limits() or "latency_b64" not in s.cfg.limits() else 64
    trunks = [Trunk(f"lowrank m{m}", "lowrank", steps=[{"factorize": {"conv": "tucker", "rank": "macs", "macs": m,
                                                                      "timing_batch": batch}}]) for m in LOWRANK_MACS]
    return trunks, own(trunks)


def _student_trunks(s: Setting) -> list[tuple[dict[str, Any], Trunk]]:
    out = []
    for st in students_of(s.model, s.input_shape):
        source = {"name": st["name"], "kwargs": st["kwargs"]}
        if s.cfg.distiller:
            first = {"distill": {"method": s.cfg.distiller, "epochs": s.cfg.student_epochs, "lr": s.cfg.student_lr}}
        else:
            first = {"train": {"epochs": s.cfg.student_epochs, "lr": s.cfg.student_lr}}
        out.append((st, Trunk(f"{s.cfg.distiller or 'ce'} {st['label']}", "distill", source=source, first=first,
                              student=True)))
    return out


@FAMILIES.register("distill")
def distill(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Distillation from the original into smaller architectures of its own family (shallower, narrower)."""
    trunks = [t for _, t in _student_trunks(s)]
    return trunks, own(trunks)


@FAMILIES.register("residual")
def residual(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Residual-error KD (S + A split from a student's budget; KD through the frozen classifier, head fine-tuned),
    for the three largest students with the model's stages; its cost (two networks) is known once it is trained."""
    trunks = []
    same_stages = [(st, t) for st, t in _student_trunks(s) if "widths" not in st["kwargs"]]  # S's f_K = T's shape
    for st, _ in same_stages[:3]:
        first = {"distill": {"method": "residual", "mode": "m1", "kd_weight": 1.0, "head_epochs": 1,
                             "epochs": max(1, s.cfg.student_epochs // 2), "lr": s.cfg.student_lr}}
        trunks.append(Trunk(f"residual {st['label']}", "residual", source={"name": st["name"], "kwargs": st["kwargs"]},
                            first=first, student=True, probe=False))
    return trunks, own(trunks)


@FAMILIES.register("int8")
def int8(s: Setting, trunks: list[Trunk] | None = None) -> tuple[list[Trunk], list[Candidate]]:
    """Static int8 with each engine on the original and on every other trunk (prune + int8, student + int8, ...)."""
    out = []
    for t in [ORIGINAL] + list(trunks or []):
        for e in s.engines:
            label = f"int8 {e}" if t is ORIGINAL else f"{t.label} + int8 {e}"
            out.append(Candidate(label, "int8", t.key, tail=[{"quantize": {"method": "ptq", "engine": e}}]))
    return [ORIGINAL], out


@FAMILIES.register("deep-compression")
def deep_compression(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Deep Compression of the original (pruning, trained codebooks, Huffman coding), for size budgets only."""
    if "size" not in s.cfg.limits():
        return [], []
    out = []
    for sparsity, bits in DEEP_COMPRESSION:
        base = {"method": "deep-compression", "sparsity": sparsity, "bits": bits}
        tail = {**base, "recover": {"epochs": s.cfg.quick_epochs, "lr": s.cfg.lr, "distiller": s.cfg.distiller}}
        probe = {**base, "gradual": False, "recover": {"epochs": 0}, "centroids": {"epochs": 0}}
        out.append(Candidate(f"deep compression s{sparsity} {bits}b", "deep-compression", ORIGINAL.key,
                             tail=[{"quantize": tail}], probe_tail=[{"quantize": probe}]))
    return [ORIGINAL], out


@FAMILIES.register("runtime")
def runtime(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """The original model as it is, exported to each runtime of the search's ``runtimes`` beyond eager: no
    training, often enough for a latency budget (ONNX Runtime int8 ran the benchmarks' models 4-11x faster than
    PyTorch eager at batch 1)."""
    rts = [rt for rt in s.cfg.runtimes if rt != "eager"]
    return ([ORIGINAL], [Candidate(f"original @ {rt}", "runtime", ORIGINAL.key, runtime=rt) for rt in rts]) if rts \
        else ([], [])


TAIL_FAMILIES = ("int8",)  # families whose tails go on every trunk the other families propose


def generate(s: Setting) -> tuple[list[Trunk], list[Candidate]]:
    """Every trunk and candidate of the families the settings want (trunks once each, in family order), and the
    runtimes of ``cfg.runtimes`` beyond eager as one more dimension of every float candidate."""
    trunks: dict[str, Trunk] = {}
    cands: dict[str, Candidate] = {}

    def add(ts: list[Trunk], cs: list[Candidate]) -> None:
        for t in ts:
            trunks.setdefault(t.key, t)
        for c in cs:
            cands.setdefault(c.key, c)

    for name in FAMILIES:
        if name not in TAIL_FAMILIES and s.cfg.wants(name):
            add(*FAMILIES.get(name)(s))
    for name in TAIL_FAMILIES:
        if s.cfg.wants(name):
            add(*FAMILIES.get(name)(s, [t for t in trunks.values() if t.trains]))
    for rt in [rt for rt in s.cfg.runtimes if rt != "eager"]:
        for c in [c for c in cands.values() if not c.tail and c.runtime == "eager" and c.trunk != ORIGINAL.key]:
            add([], [Candidate(f"{c.label} @ {rt}", c.family, c.trunk, runtime=rt)])
    used = {c.trunk for c in cands.values()}
    return [t for t in trunks.values() if t.key in used], list(cands.values())
