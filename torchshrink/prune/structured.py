"""Structured pruning: remove whole channels with everything that depends on them, leaving an ordinary smaller model.

Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017), with the dependency handling of
Fang et al., "DepGraph: Towards Any Structural Pruning" (CVPR 2023): Torch-Pruning's
``DependencyGraph`` finds which layers must lose the same channels (residual additions,
concatenations, depthwise convolutions, BatchNorm, the next layer's inputs, the classifier's
inputs). This module wraps it: a validated :class:`StructuredConfig`, a target given as a channel
ratio or a MACs budget, excluded layers, and a record of the removed channels so ``load_model``
rebuilds the new shapes by itself.

>>> import torch
>>> from torchshrink.models import create_model
>>> from torchshrink.measure import count_params
>>> m = create_model("resnet8", num_classes=10, in_channels=1)
>>> before = count_params(m)
>>> report = prune_(m, StructuredConfig(ratio=0.5), torch.zeros(1, 1, 16, 16))
>>> count_params(m) < before, report.params_after == count_params(m), m(torch.randn(2, 1, 16, 16)).shape
(True, True, torch.Size([2, 10]))
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

import torch
import torch.nn as nn
import torch_pruning as tp

from ..checks import check_config
from ..compress import Context, Report, compress_, register_method
from ..engine.task import requires_grad_kept
from ..errors import ConfigError, suggest
from ..inputs import Example, ExampleLike, as_example, example_spec, from_spec
from ..measure import count_macs
from ..models.files import MODEL_TRANSFORMS, record_transform
from ..recover import Recovery
from .importance import IMPORTANCES, accumulate_gradients, build_importance, needs_gradients

TRANSFORM = "prune_channels"


@dataclass
class StructuredConfig:
    """What to remove: ``ratio`` of each layer's channels, or enough channels that the model keeps ``macs`` of its MACs.

    At most one of ``ratio`` (0..1, the fraction of channels removed per layer group) and ``macs`` (0..1, the
    fraction of the MACs kept, e.g. 0.5 for 2x fewer) is set; with neither, the model keeps half its MACs. ``importance`` names a registered channel
    importance (l2, l1, bn_scale, taylor, ...; those that need gradients read the training data). ``exclude``
    lists module names (``model.named_modules()``) whose output channels are kept; the classifier is always kept.
    ``global_pruning`` ranks channels across layers instead of per layer. ``round_to`` keeps channel
    counts multiples of it (1 = any count). ``max_layer_ratio`` caps how much of any one layer goes.
    ``recover``: fine-tuning afterwards (epochs 0 = none).
    """

    RENAMED: ClassVar[dict[str, str]] = {"macs_ratio": "macs"}
    HELP: ClassVar[dict[str, str]] = {
        "ratio": "fraction of channels removed per layer", "macs": "fraction of the MACs kept, e.g. 0.5 for 2x fewer "
        "(the default target)", "importance": "l2 (default), l1, bn_scale, taylor, fpgm",
        "exclude": "layer name to leave unpruned (repeatable)", "global_pruning": "rank channels across layers",
        "round_to": "keep channel counts multiples of this (8 suits CPU kernels)",
        "max_layer_ratio": "the most of one layer's channels that may go", "search_steps": "MACs-target search steps"}

    ratio: float | None = None
    macs: float | None = None
    importance: str = "l2"
    exclude: list[str] = field(default_factory=list)
    global_pruning: bool = False
    round_to: int = 1
    max_layer_ratio: float = 0.9
    search_steps: int = 6
    recover: Recovery = field(default_factory=Recovery)

    def validate(self) -> list[str]:
        p = []
        if self.ratio is not None and self.macs is not None:
            p.append("set one of ratio (the fraction of channels removed, e.g. 0.3) and macs (the fraction of MACs "
                     "kept, e.g. 0.5), not both")
        if self.ratio is not None and not 0 < self.ratio < 1:  # 0 would prune nothing: said, not replaced by a default
            p.append(f"ratio: must be in (0, 1) (the fraction of channels removed, e.g. 0.3), got {self.ratio}; leave "
                     "ratio and macs out to keep half the MACs")
        if self.macs is not None and not 0 < self.macs < 1:
            p.append(f"macs: the fraction of MACs kept must be in (0, 1), got {self.macs}")
        if self.importance not in IMPORTANCES:
            p.append(f"importance: unknown {self.importance!r}{suggest(self.importance, IMPORTANCES)}; "
                     f"choose one of {', '.join(IMPORTANCES.names())}")
        if self.round_to < 1:
            p.append(f"round_to: must be >= 1, got {self.round_to}")
        if not 0 < self.max_layer_ratio < 1:
            p.append(f"max_layer_ratio: must be in (0, 1), got {self.max_layer_ratio}")
        if self.search_steps < 1:
            p.append(f"search_steps: must be >= 1, got {self.search_steps}")
        return p + [f"recover.{q}" for q in self.recover.validate()]


def _ignored(model: nn.Module, exclude: Sequence[str]) -> list[nn.Module]:
    names = dict(model.named_modules())
    out = []
    for n in exclude:
        if n not in names:
            raise ConfigError(f"exclude: the model has no layer {n!r}{suggest(n, [k for k in names if k])}; "
                              "use names from model.named_modules()")
        out.append(names[n])
    cls = getattr(model, "classifier_name", None)
    if cls and cls in names:
        out.append(names[cls])
    else:  # no recorded classifier: keep the output width of the last linear layer
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        out += linears[-1:]
    return out


def output_layers(model: nn.Module, example: Example) -> list[str]:
    """Names of the layers whose output channels are the model's outputs: the last convolution or linear layer
    that runs (a classifier that is a convolution, as SqueezeNet's, included), so pruning never changes what the
    model predicts.

    >>> output_layers(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 10, 1), nn.AdaptiveAvgPool2d(1)), as_example((3, 8, 8)))
    ['1']
    """
    from ..measure.trace import trace_layers

    names = list(trace_layers(model, example, (nn.modules.conv._ConvNd, nn.Linear), macs=False))
    return names[-1:]


def qkv_heads(model: nn.Module) -> dict[nn.Module, int]:
    """``{qkv Linear: heads}`` of timm-style attention blocks, for Torch-Pruning to remove the same channels from
    every head (the heads stay, each narrower)."""
    return {m.qkv: m.num_heads for m in model.modules()
            if isinstance(getattr(m, "qkv", None), nn.Linear) and isinstance(getattr(m, "num_heads", None), int)}


def attention_round(model: nn.Module, round_to: int = 1) -> int:
    """``round_to`` made a multiple of every ``nn.MultiheadAttention``'s head count, so pruning the model width
    keeps each attention's width divisible by its heads (the heads stay, each narrower; FFN channels go freely).

    >>> attention_round(nn.TransformerEncoderLayer(32, 4, 64), 1), attention_round(nn.Linear(2, 2), 8)
    (4, 8)
    """
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            round_to = math.lcm(round_to, int(m.num_heads))
    return round_to


def check_keeps_every_layer(model: nn.Module, ratio: float, exclude: Sequence[str] = ()) -> None:
    """Refuse a ``ratio`` that would take every channel of some layer (Torch-Pruning would silently skip it).

    A layer of ``c`` channels keeps ``int(c * (1 - ratio))`` of them; none left would remove the layer.

    >>> from torchshrink.models import create_model
    >>> check_keeps_every_layer(create_model("resnet8", width=0.25), 0.8)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: ratio 0.8 would remove all 4 channels of layer 'conv1' (and 2 more layers), removing the layer; use a ratio of at most 0.75, or exclude the narrow layers (e.g. 'conv1')
    """
    ignored = {id(m) for m in _ignored(model, exclude)}
    empty = [(n, m.out_channels if isinstance(m, nn.modules.conv._ConvNd) else m.out_features)
             for n, m in model.named_modules()
             if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and id(m) not in ignored]
    empty = [(n, c) for n, c in empty if int(c * (1 - ratio)) < 1]
    if empty:
        name, c = min(empty, key=lambda t: t[1])
        more = f" (and {len(empty) - 1} more layers)" if len(empty) > 1 else ""
        raise ConfigError(f"ratio {ratio} would remove all {c} channels of layer {name!r}{more}, removing the layer; "
                          f"use a ratio of at most {math.floor((1 - 1 / c) * 100) / 100:g}, or exclude the narrow layers "
                          f"(e.g. {name!r})")


def _tp_inputs(model: nn.Module, example: Example) -> Any:
    """The example in the form Torch-Pruning traces with (a tensor, a tuple or a dict), on the model's device."""
    p = next(model.parameters())
    return example.to(p.device).value


def _prune_at(model: nn.Module, cfg: StructuredConfig, ratio: float, example: Example,
              batches: list | None) -> list:
    """Prune ``model`` in place at channel ``ratio``; returns Torch-Pruning's history of removed channels.

    Torch-Pruning leaves parameters that do not require gradients alone, so a frozen model (e.g. one a
    distiller used as its teacher) is unfrozen for the pruning and frozen again afterwards.
    """
    with requires_grad_kept(model), torch.enable_grad():  # Torch-Pruning traces through autograd
        model.requires_grad_(True)
        return _prune_unfrozen(model, cfg, ratio, example, batches)


def _prune_unfrozen(model: nn.Module, cfg: StructuredConfig, ratio: float, example: Example,
                    batches: list | None) -> list:
    if needs_gradients(cfg.importance):
        if not batches:
            raise ConfigError(f"importance {cfg.importance!r} needs a few training batches; pass data=... "
                              "(or choose l2, l1 or bn_scale)")
        accumulate_gradients(model, batches)
    ignored = _ignored(model, cfg.exclude)
    try:
        pruner = tp.pruner.MetaPruner(
            model, _tp_inputs(model, example), importance=build_importance(cfg.importance),
            global_pruning=cfg.global_pruning, pruning_ratio=ratio, max_pruning_ratio=cfg.max_layer_ratio,
            ignored_layers=ignored, round_to=cfg.round_to if cfg.round_to > 1 else None,
            num_heads=qkv_heads(model), prune_head_dims=True, prune_num_heads=False)
        with torch.no_grad() if not needs_gradients(cfg.importance) else torch.enable_grad():
            pruner.step()
    except (ArithmeticError, AssertionError, IndexError, KeyError, RuntimeError, ValueError) as e:
        # Torch-Pruning's tracer fails inside its own index bookkeeping on some reshapes (e.g. a channel shuffle)
        raise ConfigError(f"structured pruning could not follow the channel dependencies of {type(model).__name__} "
                          f"({type(e).__name__} in Torch-Pruning: {str(e).splitlines()[0] if str(e) else 'no message'}"
                          "), typically at a reshape that mixes channels such as a channel shuffle; compress this "
                          "model with unstructured pruning, low-rank factorization or distillation instead") from e
    model.zero_grad(set_to_none=True)
    return [[str(n), bool(out), [int(i) for i in idxs]] for n, out, idxs in pruner.DG.pruning_history()]


def _refresh(model: nn.Module) -> None:
    """Keep ``num_features`` in step with the classifier's new input width, and a torchvision ViT's
    ``hidden_dim`` (read by its forward to reshape the patches) with its patch embedding's width."""
    for m in model.modules():  # timm-style attention: one qkv Linear, heads of head_dim channels
        qkv, heads = getattr(m, "qkv", None), getattr(m, "num_heads", None)
        if isinstance(qkv, nn.Linear) and isinstance(heads, int) and isinstance(getattr(m, "head_dim", None), int):
            width = qkv.out_features // 3
            m.head_dim = width // heads
            if isinstance(getattr(m, "attn_dim", None), int):
                m.attn_dim = width
            if isinstance(getattr(m, "scale", None), float):
                m.scale = m.head_dim ** -0.5
    proj = getattr(model, "conv_proj", None)
    if isinstance(proj, nn.Conv2d) and isinstance(getattr(model, "hidden_dim", None), int):
        model.hidden_dim = proj.out_channels
    cls = getattr(model, "classifier_name", None)
    head = dict(model.named_modules()).get(cls) if cls else None
    if isinstance(head, nn.Linear) and hasattr(model, "num_features"):
        try:
            model.num_features = head.in_features
        except AttributeError:
            pass


@register_method(StructuredConfig, "prune.structured", family="prune")
def _prune_structured(model: nn.Module, cfg: StructuredConfig, ctx: Context) -> Report:
    """Remove whole channels (dependency-aware, Torch-Pruning); the result is an ordinary smaller model."""
    ex = ctx.example
    batches = list(_take(ctx.train_loader, 4)) if needs_gradients(cfg.importance) and ctx.data is not None else None
    rnns = [n for n, m in model.named_modules() if isinstance(m, nn.RNNBase) and n not in cfg.exclude]
    if rnns:
        raise ConfigError(f"structured pruning does not remove hidden units of recurrent layers ({type(model.get_submodule(rnns[0])).__name__} "
                          f"{rnns[0]!r}: Torch-Pruning cannot slice their recurrent weights); use unstructured pruning, "
                          "low-rank factorization or distillation into a narrower model instead, or exclude it "
                          f"(exclude={rnns!r}) to prune the other layers")
    keep = [n for n in output_layers(model, ex) if n not in cfg.exclude]
    cfg = dataclasses.replace(cfg, exclude=list(cfg.exclude) + keep, round_to=attention_round(model, cfg.round_to))
    macs0 = count_macs(model, ex)
    ratio = cfg.ratio
    if cfg.ratio is None:  # a MACs target (half the MACs when neither is given)
        cfg = dataclasses.replace(cfg, macs=cfg.macs or 0.5)
        ratio = _search_ratio(model, cfg, ex, batches, macs0)
    elif not cfg.global_pruning:
        check_keeps_every_layer(model, ratio, cfg.exclude)
    was = model.training
    model.eval()
    history = _prune_at(model, cfg, ratio, ex, batches)
    model.train(was)
    if not history and ratio > 0:  # nothing removable: say so rather than hand back the same model as 'pruned'
        raise ConfigError(f"ratio {ratio} removed no channels (round_to={cfg.round_to}, max_layer_ratio="
                          f"{cfg.max_layer_ratio}, excluded: {list(cfg.exclude) or 'none'}); lower round_to or "
                          "exclude fewer layers")
    _refresh(model)
    record_transform(model, TRANSFORM, history=history, example=example_spec(ex))
    report = Report("prune.structured", model=model, macs_before=macs0, metrics={"channel_ratio": ratio})
    report.notes.append(f"structured ({cfg.importance}): channel ratio {ratio:.2f}")
    if keep:
        report.notes.append(f"output layer {', '.join(keep)} kept whole (its channels are the model's outputs)")
    if cfg.round_to > 1:
        report.notes.append(f"channel counts kept multiples of {cfg.round_to} (attention heads divide the width)"
                            if attention_round(model) > 1 else f"channel counts kept multiples of {cfg.round_to}")
    return report


def prune_(model: nn.Module, config: StructuredConfig, example_inputs: ExampleLike | None = None,
           **kwargs: Any) -> Report:
    """Remove channels from ``model`` in place as ``config`` says; ``compress_`` with a StructuredConfig.

    With ``macs`` the channel ratio is found by bisection on copies of the model, so the result has at most
    that fraction of the MACs (within one bisection step). ``data`` (loaders or ``(x, y)`` batches) is used by
    importances that need gradients (taylor). The change is recorded so ``save_model``/``load_model``
    round-trip the new shapes.
    """
    return compress_(model, check_config(config, StructuredConfig), example_inputs, **kwargs)


def _take(batches: Iterable[Any], n: int):
    for i, b in enumerate(batches):
        if i >= n:
            break
        yield b[0], b[1]


def _search_ratio(model: nn.Module, cfg: StructuredConfig, example: Example, batches: list | None,
                  macs0: int) -> float:
    """Smallest channel ratio found whose pruned copy has MACs <= macs * macs0 (within 1%).

    MACs fall roughly as (1 - ratio)^2, so the search starts at 1 - sqrt(macs) and refines by
    false position between the best ratios known to be above and below the budget.
    """
    target = cfg.macs * macs0

    from ..forward_check import forward_problem, reference_shapes

    expected = reference_shapes(model, example)

    def macs_at(r: float) -> int:
        trial = copy.deepcopy(model).eval()
        _prune_at(trial, cfg, r, example, batches)
        _refresh(trial)
        why = forward_problem(trial, example, expected)
        if why is not None:
            raise ConfigError(f"structured pruning breaks {type(model).__name__}: pruned at channel ratio {r:.2f}, "
                              f"{why}; the model is unchanged; exclude the layers involved (exclude=[...]) or use "
                              "unstructured pruning, low-rank factorization or distillation instead")
        return count_macs(trial, example)

    lo, f_lo = 0.0, float(macs0)  # known over budget (or the start)
    hi, f_hi = None, None  # known within budget
    r = min(cfg.max_layer_ratio, 1.0 - cfg.macs ** 0.5)
    for _ in range(cfg.search_steps):
        f = macs_at(r)
        if f <= target:
            hi, f_hi = r, f
            if f >= 0.99 * target:
                break
        else:
            lo, f_lo = r, f
        if hi is None:
            if lo >= cfg.max_layer_ratio:
                break
            r = min(cfg.max_layer_ratio, lo + (1 - lo) * 0.5 * (f_lo - target) / f_lo + 0.01)
        else:
            r = lo + (hi - lo) * (f_lo - target) / max(1.0, f_lo - f_hi)
            if not lo < r < hi or hi - lo < 1e-3:
                break
    if hi is None:
        raise ConfigError(f"macs {cfg.macs} cannot be reached by removing up to {cfg.max_layer_ratio:.0%} "
                          "of each layer's channels (with the excluded layers kept); raise macs or max_layer_ratio")
    return hi


def prune_channels_(model: nn.Module, channels: dict[str, Sequence[int]], example_inputs: ExampleLike) -> nn.Module:
    """Remove the given output ``channels`` of named layers (and all their dependents) from ``model`` in place.

    >>> from torchshrink.models import create_model
    >>> m = create_model("resnet8", num_classes=10, in_channels=1)
    >>> prune_channels_(m, {"layer1.0.conv1": [0, 1, 2]}, (1, 16, 16)).layer1[0].conv2.in_channels
    13
    """
    ex = as_example(example_inputs, batch_size=1)
    history = [[name, True, sorted(int(i) for i in idxs)] for name, idxs in channels.items()]
    _replay(model, history, ex)
    _refresh(model)
    record_transform(model, TRANSFORM, history=history, example=example_spec(ex))
    return model


def _replay(model: nn.Module, history: list, example: Example) -> nn.Module:
    was = model.training
    model.eval()
    with torch.enable_grad():  # Torch-Pruning traces through autograd: loading under no_grad/inference_mode works too
        dg = tp.DependencyGraph().build_dependency(model, example_inputs=_tp_inputs(model, example), verbose=False)
        dg.load_pruning_history([[n, bool(o), list(i)] for n, o, i in history])
    model.train(was)
    return model


@MODEL_TRANSFORMS.register(TRANSFORM)
def _replay_transform(model: nn.Module, history: list, example: dict[str, Any] | None = None,
                      input_shape: list[int] | None = None) -> nn.Module:
    """Rebuild the shapes of a structurally pruned model from its recorded channel history (``input_shape``:
    files written before example inputs were recorded)."""
    _replay(model, history, from_spec(example if example is not None else input_shape or []))
    _refresh(model)
    return model
