"""Residual-error KD's student and assistants as channel groups of one network (Gao et al., "Residual error based
knowledge distillation"; the ``branch`` design of :mod:`torchshrink.distill.split`).

The reference architecture's channels are split, in every layer, into groups: S (group 0) and assistants
A_1..A_m. Every convolution computes group g's output channels from the input channels of groups 0..g only, so S
never reads an assistant and each assistant reads S's (and the earlier assistants') features at every layer, the
image included. Each group's last feature map goes through its own 1x1 conv + BN connector to the teacher's
channels; ``f_K = sum_g c_g(f_g)`` goes to one shared classifier, as in :class:`~.residual_pair.ResidualPair`.

Training form (``residual_branch``): :class:`SplitConv` / :class:`SplitBN` keep each group's weights as separate
modules, so a phase trains one group with its own optimizer state and BatchNorm statistics. :func:`fuse_branch`
turns a trained pair into the reference architecture itself: each SplitConv becomes one dense convolution whose
weight is block lower-triangular (the blocks above the diagonal are zero, and are computed), each SplitBN one
BatchNorm, and the connectors with the shared classifier fold into the model's own classifier (global pooling,
1x1 convolutions and BatchNorm in eval mode are affine maps). The fused model has the reference's layers and
shapes, so its MACs, parameters and latency are the reference's.

>>> import torch
>>> from torchshrink.models import create_model
>>> pair = create_model("residual_branch", num_classes=3, in_channels=1, student={"name": "resnet8"},
...                     assistants=[0.25], features=64).eval()
>>> pair.group_channels, tuple(pair(torch.zeros(2, 1, 16, 16)).shape)
([48, 16], (2, 3))
>>> fused = fuse_branch(pair)
>>> type(fused).__name__, bool(torch.allclose(fused(torch.ones(1, 1, 16, 16)), pair(torch.ones(1, 1, 16, 16)), atol=1e-5))
('CifarResNet', True)
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, TorchshrinkError
from .layers import HeadMixin
from .registry import create_model, register_model


def group_sizes(channels: int, fractions: Sequence[float]) -> list[int]:
    """Channels of S and of each assistant in a layer of ``channels``: assistant g gets ``round(C * f_g)`` (>= 1),
    S the rest.

    >>> group_sizes(64, [0.25]), group_sizes(16, [0.1, 0.1])
    ([48, 16], [12, 2, 2])
    """
    a = [max(1, int(round(channels * f))) for f in fractions]
    if channels - sum(a) < 1:
        raise ConfigError(f"a layer of {channels} channels cannot hold S and assistants of {list(fractions)} of its "
                          "channels; give the assistants smaller fractions")
    return [channels - sum(a)] + a


def _bounds(sizes: Sequence[int]) -> list[int]:
    out = [0]
    for n in sizes:
        out.append(out[-1] + n)
    return out


class SplitConv(nn.Module):
    """A convolution computed per channel group: group g's outputs read the inputs of groups 0..g (``groups=1``),
    or only its own channels (depthwise).

    Each group's weights are a module of their own (``parts[g]``, so a phase can train one group); the forward pass
    is one convolution with the weights assembled into the dense block lower-triangular kernel (zeros above the
    diagonal), as fast as the reference layer.
    """

    def __init__(self, conv: nn.Conv2d, in_sizes: Sequence[int], out_sizes: Sequence[int]) -> None:
        super().__init__()
        self.in_sizes, self.out_sizes = list(in_sizes), list(out_sizes)
        self.depthwise = conv.groups > 1
        if self.depthwise and not (conv.groups == conv.in_channels == conv.out_channels and in_sizes == out_sizes):
            raise ConfigError(f"a grouped convolution ({conv.groups} groups, {conv.in_channels} -> "
                              f"{conv.out_channels} channels) cannot be split into S and assistant channels; only "
                              "dense and depthwise convolutions can (use the 'separate' design for this model)")
        if conv.padding_mode != "zeros":
            raise ConfigError(f"the branch design supports zero-padded convolutions only, not {conv.padding_mode!r}")
        ib, ob = _bounds(in_sizes), _bounds(out_sizes)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.cin = conv.in_channels
        self.parts = nn.ModuleList()
        for g, n in enumerate(out_sizes):
            cin = n if self.depthwise else ib[g + 1]
            part = nn.Conv2d(cin, n, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                             groups=n if self.depthwise else 1, bias=conv.bias is not None)
            with torch.no_grad():  # start from the reference layer's own initialisation
                w = conv.weight[ob[g]:ob[g + 1]]
                part.weight.copy_(w if self.depthwise else w[:, :cin])
                if conv.bias is not None:
                    part.bias.copy_(conv.bias[ob[g]:ob[g + 1]])
            self.parts.append(part)

    def weight(self) -> torch.Tensor:
        """The dense kernel (C_out, C_in / groups, k, k): group g's rows hold its weights, zeros after them."""
        if self.depthwise:
            return torch.cat([p.weight for p in self.parts])
        return torch.cat([F.pad(p.weight, (0, 0, 0, 0, 0, self.cin - p.weight.shape[1])) for p in self.parts])

    def bias(self) -> torch.Tensor | None:
        return None if self.parts[0].bias is None else torch.cat([p.bias for p in self.parts])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H', W')
        return F.conv2d(x, self.weight(), self.bias(), self.stride, self.padding, self.dilation,
                        sum(self.out_sizes) if self.depthwise else 1)

    def group_macs(self, out: torch.Tensor) -> list[int]:
        """Multiply-accumulates of each group's weights for one image, given this layer's output (B, C, H', W')."""
        hw = out.shape[2] * out.shape[3]
        return [hw * p.weight[0].numel() * p.out_channels for p in self.parts]

    def fused(self) -> nn.Conv2d:
        """One dense (or depthwise) convolution computing exactly this layer; blocks above the diagonal are zero."""
        p0, cout = self.parts[0], sum(self.out_sizes)
        conv = nn.Conv2d(self.cin, cout, p0.kernel_size, self.stride, self.padding, self.dilation,
                         groups=cout if self.depthwise else 1, bias=p0.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(self.weight())
            if p0.bias is not None:
                conv.bias.copy_(self.bias())
        return conv


class SplitBN(nn.Module):
    """BatchNorm with one ``nn.BatchNorm2d`` per channel group: each group's statistics move only while that group
    is in training mode. Consecutive groups in the same mode are normalized by one ``batch_norm`` call."""

    def __init__(self, bn: nn.BatchNorm2d, sizes: Sequence[int]) -> None:
        super().__init__()
        if not (bn.affine and bn.track_running_stats):
            raise ConfigError("the branch design needs BatchNorm layers with affine weights and running statistics")
        self.sizes = list(sizes)
        self.parts = nn.ModuleList(nn.BatchNorm2d(n, bn.eps, bn.momentum) for n in sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, out, g = _bounds(self.sizes), [], 0
        while g < len(self.parts):
            h = g
            while h + 1 < len(self.parts) and self.parts[h + 1].training == self.parts[g].training:
                h += 1
            out.append(self._run(x[:, b[g]:b[h + 1]] if len(self.parts) > 1 else x, self.parts[g:h + 1]))
            g = h + 1
        return out[0] if len(out) == 1 else torch.cat(out, 1)

    @staticmethod
    def _run(x: torch.Tensor, parts: Sequence[nn.BatchNorm2d]) -> torch.Tensor:
        p0, train = parts[0], parts[0].training
        cat = lambda name: torch.cat([getattr(p, name) for p in parts]) if len(parts) > 1 else getattr(p0, name)  # noqa
        mean, var = cat("running_mean"), cat("running_var")
        if train and len(parts) > 1:
            mean, var = mean.clone(), var.clone()
        y = F.batch_norm(x, mean, var, cat("weight"), cat("bias"), train, p0.momentum, p0.eps)
        if train:
            with torch.no_grad():
                o = 0
                for p in parts:
                    n = p.num_features
                    if len(parts) > 1:
                        p.running_mean.copy_(mean[o:o + n])
                        p.running_var.copy_(var[o:o + n])
                    p.num_batches_tracked += 1
                    o += n
        return y

    def fused(self) -> nn.BatchNorm2d:
        p0 = self.parts[0]
        bn = nn.BatchNorm2d(sum(self.sizes), p0.eps, p0.momentum)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).copy_(torch.cat([getattr(p, name) for p in self.parts]))
            bn.num_batches_tracked.copy_(p0.num_batches_tracked)
        return bn


def _connector(cin: int, cout: int, zero: bool = False) -> nn.Module:
    conv = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
    if zero:  # an assistant starts by adding nothing: stage 2 starts from S's solution
        nn.init.zeros_(conv[1].weight)
    return conv


def split_channels_(model: nn.Module, fractions: Sequence[float]) -> nn.Module:
    """Replace ``model``'s convolutions and BatchNorms by their per-group forms, in place (see the module docstring).

    The first convolution reads the image: all its input channels are visible to every group.
    """
    first = True
    for name, m in list(model.named_modules()):
        parent, _, child = name.rpartition(".")
        holder = model.get_submodule(parent) if parent else model
        if isinstance(m, nn.Conv2d):
            in_sizes = [m.in_channels] + [0] * len(fractions) if first else group_sizes(m.in_channels, fractions)
            if first and m.groups > 1:
                raise ConfigError("the first convolution of the model is grouped; the branch design needs a dense stem")
            setattr(holder, child, SplitConv(m, in_sizes, group_sizes(m.out_channels, fractions)))
            first = False
        elif isinstance(m, nn.BatchNorm2d):
            setattr(holder, child, SplitBN(m, group_sizes(m.num_features, fractions)))
        elif isinstance(m, (nn.Linear, nn.GroupNorm, nn.LayerNorm, nn.BatchNorm1d)) and name:
            raise ConfigError(f"layer {name!r} ({type(m).__name__}) mixes channels in a way the branch design cannot "
                              "split; use the 'separate' design for this model")
    return model


class _Stage(nn.Module):
    """A trunk stage whose output is also handed, per group, to identity modules (tap points for M.2)."""

    def __init__(self, body: nn.Module, sizes: Sequence[int]) -> None:
        super().__init__()
        self.body, self.sizes = body, list(sizes)
        self.taps = nn.ModuleList(nn.Identity() for _ in sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if any(t._forward_hooks for t in self.taps):  # only while a phase taps them
            b = _bounds(self.sizes)
            for g, t in enumerate(self.taps):
                t(y[:, b[g]:b[g + 1]])
        return y


class BranchPair(HeadMixin, nn.Module):
    """S and assistants as channel groups of one trunk; ``f_K = sum_g c_g(f_g)`` before one shared classifier."""

    def __init__(self, trunk: nn.Module, fractions: Sequence[float], features: int, num_classes: int) -> None:
        super().__init__()
        if not hasattr(trunk, "forward_features") or not hasattr(trunk, "stage_names"):
            raise TorchshrinkError("the branch design needs a registry model (forward_features, stage_names)")
        setattr(trunk, getattr(trunk, "classifier_name", "fc"), nn.Identity())
        self.fractions = [float(f) for f in fractions]
        self._stage_channels = _stage_channels(trunk)
        split_channels_(trunk, self.fractions)
        for n, c in zip(trunk.stage_names, self._stage_channels):
            setattr(trunk, n, _Stage(getattr(trunk, n), group_sizes(c, self.fractions)))
        self.trunk = trunk
        self.group_channels = group_sizes(trunk.num_features, self.fractions)
        self.connectors = nn.ModuleList(_connector(n, features, zero=g > 0) for g, n in enumerate(self.group_channels))
        self.fc = nn.Linear(features, num_classes)
        self.num_features = features
        self.groups = len(self.group_channels)
        self.stage_names = [f"trunk.{n}" for n in trunk.stage_names]
        self.connector_paths = [f"connectors.{g}" for g in range(self.groups)]

    # --- the interface the residual phases use (shared with ResidualPair) ---
    def group_features(self, x: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """``[c_0(f_0), ..., c_upto(f_upto)]`` (all groups by default), each (B, features, H, W)."""
        f = self.trunk.forward_features(x)
        b = _bounds(self.group_channels)
        last = self.groups - 1 if upto is None else upto
        return [self.connectors[g](f[:, b[g]:b[g + 1]]) for g in range(last + 1)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.group_features(x)).sum(0)

    def student_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.group_features(x, 0)[0]

    def group_parts(self, g: int, stage: int | None = None) -> list[nn.Module]:
        """The modules holding group g's weights (in trunk stage ``stage`` only, the stem with stage 0; its
        connector with the last stage or when ``stage`` is None)."""
        names = self.trunk.stage_names
        out: list[nn.Module] = []
        for path, m in self.trunk.named_modules():
            if not isinstance(m, (SplitConv, SplitBN)):
                continue
            top = path.split(".")[0]
            in_stage = names.index(top) if top in names else 0  # outside the stages: the stem, with stage 0
            if stage is None or in_stage == stage:
                out.append(m.parts[g])
        if stage is None or stage == len(names) - 1:
            out.append(self.connectors[g])
        return out

    def stage_tap_paths(self, k: int) -> list[str]:
        """Module paths whose outputs are each group's part of trunk stage k's output."""
        return [f"trunk.{self.trunk.stage_names[k]}.taps.{g}" for g in range(self.groups)]


def _stage_channels(trunk: nn.Module) -> list[int]:
    """Output channels of each stage, read on a dummy input (before splitting)."""
    out: list[int] = []
    hooks = [getattr(trunk, n).register_forward_hook(lambda m, i, o: out.append(o.shape[1])) for n in trunk.stage_names]
    c_in = next(m for m in trunk.modules() if isinstance(m, nn.Conv2d)).in_channels
    was = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            trunk.forward_features(torch.zeros(1, c_in, 32, 32))
    finally:
        trunk.train(was)
        for h in hooks:
            h.remove()
    return out


@register_model("residual_branch")
def residual_branch(num_classes: int = 10, in_channels: int = 3, student: dict[str, Any] | None = None,
                    assistants: Sequence[float] = (0.25,), features: int | None = None) -> BranchPair:
    """S + assistants inside the architecture ``student`` (``{"name": ..., **options}``); ``assistants``: each
    assistant's fraction of every layer's channels; ``features`` = the teacher's f_K channels."""
    if not student:
        raise TorchshrinkError("model 'residual_branch' needs student={'name': ...}: the architecture to split")
    if not assistants:
        raise TorchshrinkError("model 'residual_branch' needs at least one assistant fraction, e.g. assistants=[0.25]")
    kw = dict(student)
    trunk = create_model(kw.pop("name"), num_classes=num_classes, in_channels=in_channels, **kw)
    return BranchPair(trunk, list(assistants), features or trunk.num_features, num_classes)


def fuse_branch(pair: BranchPair) -> nn.Module:
    """The reference architecture computing exactly ``pair`` (in eval mode): dense block lower-triangular layers
    and the connectors folded into the classifier. Its build record is the reference's (``pair``'s ``student``)."""
    arch = dict(getattr(pair, "torchshrink_arch", None) or {})
    if arch.get("name") != "residual_branch":
        raise TorchshrinkError("fuse_branch needs a pair built with create_model('residual_branch', ...)")
    s = dict(arch["student"])
    ref = create_model(s.pop("name"), num_classes=arch["num_classes"], in_channels=arch["in_channels"], **s)
    trunk = copy.deepcopy(pair.trunk).cpu().eval()
    for n in trunk.stage_names:  # unwrap the tap points
        setattr(trunk, n, getattr(trunk, n).body)
    for name, m in list(trunk.named_modules()):
        if isinstance(m, (SplitConv, SplitBN)):
            parent, _, child = name.rpartition(".")
            setattr(trunk.get_submodule(parent) if parent else trunk, child, m.fused())
    state = {k: v for k, v in trunk.state_dict().items()}
    state.update(_fold_head(pair))
    own = ref.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise TorchshrinkError(f"the fused pair does not fill the reference model (missing {missing[:3]}); this "
                               "architecture is not supported by the branch design")
    ref.load_state_dict({k: state[k] for k in own})
    ref.torchshrink_meta = dict(getattr(pair, "torchshrink_meta", {}) or {})
    return ref.eval()


def _fold_head(pair: BranchPair) -> dict[str, torch.Tensor]:
    """``fc(pool(sum_g BN_g(W_g f_g)))`` as one linear map of ``pool(f)``: the reference's classifier weights."""
    fc = pair.fc
    cols, bias = [], fc.bias.detach().clone()
    for g, conn in enumerate(pair.connectors):
        conv, bn = conn[0], conn[1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)                 # (features,)
        w = scale[:, None] * conv.weight[:, :, 0, 0]                             # (features, n_g)
        b = bn.bias - scale * bn.running_mean                                    # (features,)
        cols.append(fc.weight @ w)                                               # (classes, n_g)
        bias = bias + fc.weight @ b
    head = getattr(pair.trunk, "classifier_name", "fc")
    return {f"{head}.weight": torch.cat(cols, 1).detach(), f"{head}.bias": bias.detach()}
