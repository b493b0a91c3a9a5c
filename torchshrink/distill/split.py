"""Separating the assistant from the student at no extra cost (Gao et al., RKD): from one architecture M, derive
S and A so that S + A costs no more than M, with A about ``ratio`` of S's MACs.

Two designs (``design``):

- ``"separate"``: S and A are two networks of M's family, scaled by channel width (A reads the image). The
  search lowers S's width from M's until the pair fits the budget, A's width chosen so that its MACs are about
  ``ratio`` times S's; ``multiple_of=8`` keeps only widths whose every layer has a multiple of 8 channels.
- ``"branch"``: S and the assistants are channel groups of M itself, each assistant reading S's features at every
  layer (:mod:`torchshrink.models.residual_branch`); each assistant's fraction of the channels is chosen so its
  MACs are about ``ratio`` times S's. The trained pair fuses into M's own layers, so its deployed cost is M's.

Budgets (``budget``): ``"macs"`` counts MACs and parameters of the assembled pair (connectors and the shared
classifier included) with :mod:`torchshrink.measure`; ``"latency"`` also times the pair as it is deployed (the
fused model for ``branch``) against M, interleaved, at batch 1 and at ``batch_size`` on ``device``, and accepts a
split only when both are at most ``1 + latency_tolerance`` times M's. MACs and parameters are always counted and
reported; the measured numbers are in :attr:`SplitResult.latency`.

>>> r = split_architecture("resnet8", num_classes=10, in_channels=1, input_shape=(1, 16, 16), features=64)
>>> r.pair_macs <= r.budget_macs and r.pair_params <= r.budget_params
True
>>> b = split_architecture("resnet8", 10, 1, (1, 16, 16), features=64, ratio=0.25, design="branch")
>>> b.assistants, b.pair_macs == b.budget_macs
([0.17], True)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..measure import count_macs, count_params
from ..models import create_model

# hub names that have a width-scalable registry twin with the same layers
_TWINS = {"tv:resnet18": ("tv_resnet", {"depth": 18}), "tv:resnet34": ("tv_resnet", {"depth": 34})}
DESIGNS = ("separate", "branch")
BUDGETS = ("macs", "latency")


@dataclass
class SplitResult:
    """S and A architecture records, and the counts (and timings) that prove the split fits M's budget."""

    student: dict[str, Any]
    assistant: dict[str, Any] | None
    budget_macs: int
    budget_params: int
    pair_macs: int
    pair_params: int
    student_macs: int
    assistant_macs: int
    tried: list[dict[str, Any]] = field(default_factory=list)
    design: str = "separate"
    assistants: list[float] = field(default_factory=list)   # branch: each assistant's fraction of the channels
    budget: str = "macs"
    latency: dict[str, Any] = field(default_factory=dict)   # budget "latency": measured ms of M and of the pair

    @property
    def assistant_ratio(self) -> float:
        return self.assistant_macs / max(1, self.student_macs)

    def build(self, teacher: nn.Module) -> nn.Module:
        """The (untrained) pair this split describes, its classifier copied from ``teacher``."""
        from .residual import build_pair

        return build_pair(teacher, self.student, self.assistant, design=self.design, assistants=self.assistants)

    def record(self) -> dict[str, Any]:
        """What to store with a trained pair: the design, the budget and its counted and measured numbers."""
        out = {k: v for k, v in asdict(self).items() if k != "tried"}
        out["assistant_ratio"] = round(self.assistant_ratio, 4)
        return out

    def summary(self) -> str:
        if self.design == "branch":
            who = f"S + assistants {self.assistants} of the channels of {self.student}"
        else:
            who = f"S {self.student} + A {self.assistant}"
        text = (f"{who}: MACs {self.pair_macs:,} <= {self.budget_macs:,}, params {self.pair_params:,} <= "
                f"{self.budget_params:,}, A/S MACs {self.assistant_ratio:.2f}")
        lat = self.latency
        if lat:
            text += (f"; latency (ms, {lat['device']}, interleaved) batch 1 {lat['pair_ms_b1']:.3f} vs "
                     f"{lat['reference_ms_b1']:.3f}, batch {lat['batch_size']} {lat['pair_ms_bn']:.3f} vs "
                     f"{lat['reference_ms_bn']:.3f}")
        return text


def _arch(name: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if name in _TWINS:
        base, kw = _TWINS[name]
        return base, {**kw, **kwargs}
    if name.startswith(("tv:", "timm:")):
        raise ConfigError(f"split supports registry models with a width option and {', '.join(_TWINS)}; "
                          f"{name!r} has no width-scalable twin (pick S and A by hand with build_pair)")
    return name, dict(kwargs)


def split_architecture(name: str, num_classes: int, in_channels: int, input_shape: Sequence[int],
                       features: int | None = None, ratio: float = 0.1, step: float = 0.02,
                       design: str = "separate", budget: str = "macs", assistants: int = 1,
                       batch_size: int = 64, device: str = "cpu", threads: int | None = None, repeats: int = 30,
                       latency_tolerance: float = 0.05, multiple_of: int = 1, **kwargs: Any) -> SplitResult:
    """Derive S and A from architecture ``name`` (options ``kwargs``, e.g. ``width=0.5``) within its budget.

    ``features`` is the teacher's f_K channel count (S and A get 1x1 connectors to it when it differs;
    their cost is counted). ``ratio`` is A's target share of S's MACs (each assistant's, with ``assistants`` > 1,
    design ``branch`` only).
    """
    _check_split(ratio, design, budget, assistants)
    base, kw = _arch(name, kwargs)
    w0 = float(kw.pop("width", 1.0))
    m = create_model(base, num_classes=num_classes, in_channels=in_channels, width=w0, **kw)
    if name in _TWINS:  # the twin must cost what the hub model costs
        hub = create_model(name, num_classes=num_classes, in_channels=in_channels)
        assert count_params(hub) == count_params(m), "width-scaled twin differs from the torchvision model"
    budget_macs, budget_params = count_macs(m, input_shape), count_params(m)
    features = features or m.num_features
    timer = _Timer(m, input_shape, batch_size, device, threads, repeats) if budget == "latency" else None
    if design == "branch":
        return _branch(base, kw, w0, num_classes, in_channels, input_shape, features, ratio, assistants,
                       budget_macs, budget_params, timer, latency_tolerance)
    return _separate(name, base, kw, w0, num_classes, in_channels, input_shape, features, ratio, step, multiple_of,
                     budget, budget_macs, budget_params, timer, latency_tolerance)


def _check_split(ratio: float, design: str, budget: str, assistants: int) -> None:
    """One sentence for a split option out of range."""
    if not 0 < ratio < 1:
        raise ConfigError(f"ratio (assistant MACs / student MACs) must be in (0, 1), got {ratio}")
    if design not in DESIGNS:
        raise ConfigError(f"design: must be one of {', '.join(DESIGNS)}, got {design!r}")
    if budget not in BUDGETS:
        raise ConfigError(f"budget: must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if assistants < 1 or (assistants > 1 and design != "branch"):
        raise ConfigError(f"assistants: {assistants} needs design 'branch' (the separate design has one assistant)")


def _separate(name: str, base: str, kw: dict[str, Any], w0: float, num_classes: int, in_channels: int,
              input_shape: Sequence[int], features: int, ratio: float, step: float, multiple_of: int, budget: str,
              budget_macs: int, budget_params: int, timer: Any, latency_tolerance: float) -> SplitResult:
    """The ``separate`` design: lower S's width from M's until S + A (A sized by ``ratio``) fits the budget."""
    build = lambda w: create_model(base, num_classes=num_classes, in_channels=in_channels, width=w, **kw)  # noqa: E731
    tried: list[dict[str, Any]] = []
    ws = w0
    while ws > step:
        ws = round(ws - step, 4)
        if multiple_of > 1 and not _channels_multiple(build(ws), multiple_of):
            continue
        s_arch = {"name": base, **kw, "width": ws}
        s_macs = quick_macs(build(ws), input_shape)
        wa = _assistant_width(build, input_shape, ws, ratio * s_macs, multiple_of)
        if wa is None:
            continue
        a_arch = {"name": base, **kw, "width": wa}
        pair = create_model("residual_pair", num_classes=num_classes, in_channels=in_channels, student=s_arch,
                            assistant=a_arch, features=features)
        qm, pp = quick_macs(pair, input_shape), count_params(pair)
        row: dict[str, Any] = {"student_width": ws, "assistant_width": wa, "macs_estimate": qm, "params": pp}
        tried.append(row)
        if qm > budget_macs or pp > budget_params:
            continue
        pm = count_macs(pair, input_shape)  # confirmed by the measurement module
        if pm > budget_macs:
            continue
        lat = {}
        if timer is not None:
            lat = timer.time(pair)
            row.update({k: lat[k] for k in ("pair_ms_b1", "pair_ms_bn")})
            if not _fits(lat, latency_tolerance):
                continue
        return SplitResult(s_arch, a_arch, budget_macs, budget_params, pm, pp, count_macs(pair.student, input_shape),
                           count_macs(pair.assistant, input_shape), tried, "separate", [], budget, lat)
    what = "its budget" if timer is None else "its measured latency"
    raise ConfigError(f"no S + A split of {name} fits {what} ({budget_macs:,} MACs, {budget_params:,} params) "
                      f"with ratio {ratio}; lower the ratio, give features= the student's own channel count, or use "
                      "design='branch' (S and A inside one network, at the reference's cost)")


def _branch(base: str, kw: dict[str, Any], w0: float, num_classes: int, in_channels: int, input_shape: Sequence[int],
            features: int, ratio: float, assistants: int, budget_macs: int, budget_params: int,
            timer: "_Timer | None", tolerance: float) -> SplitResult:
    """The branch design: each assistant's channel fraction (in steps of 0.01) with MACs closest to ``ratio`` x S's."""
    from ..models.residual_branch import fuse_branch

    s_arch = {"name": base, **kw, "width": w0}
    build = lambda fr: create_model("residual_branch", num_classes=num_classes, in_channels=in_channels,  # noqa: E731
                                    student=s_arch, assistants=fr, features=features)
    tried, best = [], None
    for k in range(1, 50):
        f = k / 100
        if f * assistants >= 0.9:
            break
        try:
            pair = build([f] * assistants)
        except ConfigError:
            break
        s_macs, a_macs = _group_macs(pair, input_shape)
        r = a_macs / max(1, s_macs) / assistants
        tried.append({"fraction": f, "assistant_ratio": round(r, 4)})
        if best is None or abs(r - ratio) < abs(best[1] - ratio):
            best = (f, r, s_macs, a_macs)
    if best is None:
        raise ConfigError(f"{base} is too narrow to hold S and {assistants} assistant(s)")
    fr = [best[0]] * assistants
    pair = build(fr)
    fused = fuse_branch(pair)
    pm, pp = count_macs(fused, input_shape), count_params(fused)
    lat = {}
    if timer is not None:
        lat = timer.time(fused)
        if not _fits(lat, tolerance):
            raise ConfigError(f"the fused {base} measured slower than the reference itself ({lat}); the machine is "
                              "too noisy to time: rerun it alone, or raise latency_tolerance")
    return SplitResult(s_arch, None, budget_macs, budget_params, pm, pp, best[2], best[3], tried, "branch", fr,
                       "latency" if timer is not None else "macs", lat)


def _group_macs(pair: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """MACs of S's parts and of the assistants' parts (trunk convolutions and connectors) of a BranchPair."""
    from ..models.residual_branch import SplitConv

    per: dict[int, int] = {}

    def split_hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        for g, n in enumerate(mod.group_macs(out)):
            per[g] = per.get(g, 0) + n

    def conn_hook(g: int):
        def fn(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            per[g] = per.get(g, 0) + _conv_macs(mod, out)
        return fn

    hs = [m.register_forward_hook(split_hook) for m in pair.modules() if isinstance(m, SplitConv)]
    hs += [c[0].register_forward_hook(conn_hook(g)) for g, c in enumerate(pair.connectors)]
    was = pair.training
    pair.eval()
    try:
        with torch.no_grad():
            pair(torch.zeros(1, *input_shape))
    finally:
        pair.train(was)
        for h in hs:
            h.remove()
    return per.get(0, 0), sum(v for g, v in per.items() if g > 0)


class _Timer:
    """Times candidates against the reference model, interleaved, at batch 1 and at ``batch_size``."""

    def __init__(self, reference: nn.Module, input_shape: Sequence[int], batch_size: int, device: str,
                 threads: int | None, repeats: int) -> None:
        self.ref, self.shape, self.bs, self.device, self.threads, self.repeats = (
            reference, tuple(input_shape), batch_size, device, threads, repeats)

    def time(self, candidate: nn.Module) -> dict[str, Any]:
        import copy

        from ..measure.latency import latency_many

        models = {"reference": copy.deepcopy(self.ref).to(self.device).eval(),
                  "pair": copy.deepcopy(candidate).to(self.device).eval()}
        out: dict[str, Any] = {"device": self.device, "batch_size": self.bs, "repeats": self.repeats}
        for tag, bs in (("b1", 1), ("bn", self.bs)):
            lat = latency_many(models, self.shape, batch_size=bs, repeats=self.repeats if bs == 1 else
                               max(10, self.repeats // 2), warmup=3, threads=self.threads, device=self.device)
            out[f"reference_ms_{tag}"] = lat["reference"].median_ms
            out[f"pair_ms_{tag}"] = lat["pair"].median_ms
            out[f"ratio_{tag}"] = lat["pair"].median_ms / lat["reference"].median_ms
            out[f"ratio_p10_{tag}"] = lat["pair"].p10_ms / lat["reference"].p10_ms  # the fast runs: less load noise
            out["threads"] = lat["pair"].threads
        return out


def _fits(lat: dict[str, Any], tolerance: float) -> bool:
    return lat["ratio_b1"] <= 1 + tolerance and lat["ratio_bn"] <= 1 + tolerance


def _channels_multiple(model: nn.Module, m: int) -> bool:
    return all(c.out_channels % m == 0 for c in model.modules() if isinstance(c, nn.Conv2d))


def _conv_macs(mod: nn.Module, out: torch.Tensor) -> int:
    if isinstance(mod, nn.Conv2d):
        return out[0].numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
    return out[0].numel() * mod.in_features


def quick_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one image (torch's flop counter, as everywhere in torchshrink)."""
    return count_macs(model, input_shape)


def _assistant_width(build, input_shape: Sequence[int], ws: float, target_macs: float,
                     multiple_of: int = 1) -> float | None:
    """The largest width (in steps of 1/64 of S's) whose MACs stay at or under ``target_macs`` (None if none does,
    with ``multiple_of`` channels)."""
    if multiple_of > 1:  # few candidates: scan them all
        ok = [round(ws * k / 64, 4) for k in range(1, 65)]
        ok = [w for w in ok if _channels_multiple(build(w), multiple_of) and quick_macs(build(w), input_shape)
              <= target_macs]
        return max(ok) if ok else None
    lo, best, hi = 1, 1, 64
    while lo <= hi:  # MACs grow with width: bisection on k/64 * ws
        mid = (lo + hi) // 2
        if quick_macs(build(round(ws * mid / 64, 4)), input_shape) <= target_macs:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return round(ws * best / 64, 4)
