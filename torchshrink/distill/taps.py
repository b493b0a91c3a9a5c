"""Feature taps: read any module's output (or input) by its module path, through forward hooks.

The model is not changed: hooks are added when the taps are created and removed by :meth:`FeatureTaps.remove`
(or when used as a context manager). A path that does not exist raises an error listing the nearby valid
paths; teacher and student features that cannot be matched raise an error naming both shapes.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1)
>>> with FeatureTaps(m, ["layer2", "layer3"]) as taps:
...     _ = m(torch.zeros(2, 1, 16, 16))
...     [tuple(f.shape) for f in taps.features()]
[(2, 32, 8, 8), (2, 64, 4, 4)]
>>> resolve_module(m, "layer4")
Traceback (most recent call last):
...
torchshrink.errors.ConfigError: module path 'layer4' does not exist in CifarResNet; nearby valid paths: layer3, layer2, layer1, layer3.0 (all top-level: conv1, bn1, relu, layer1, layer2, layer3, fc)
"""
from __future__ import annotations

import difflib
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError


def module_paths(model: nn.Module) -> list[str]:
    """Every named submodule path of ``model`` (``""`` is the model itself and is left out)."""
    return [n for n, _ in model.named_modules() if n]


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted ``path``; a wrong path raises ConfigError listing nearby valid paths."""
    if path == "":
        return model
    modules = dict(model.named_modules())
    if path in modules:
        return modules[path]
    paths = module_paths(model)
    near = difflib.get_close_matches(path, paths, n=4, cutoff=0.3)
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    if not near and parent in modules:
        near = [f"{parent}.{n}" if parent else n for n, _ in modules[parent].named_children()][:6]
    top = [n for n, _ in model.named_children()]
    raise ConfigError(f"module path {path!r} does not exist in {type(model).__name__}; nearby valid paths: "
                      f"{', '.join(near) or 'none'} (all top-level: {', '.join(top)})")


class FeatureTaps:
    """Record the outputs (``kind='output'``) or first inputs (``kind='input'``) of modules by path."""

    def __init__(self, model: nn.Module, paths: Sequence[str], kind: str = "output",
                 modules: Sequence[nn.Module] | None = None) -> None:
        if kind not in ("output", "input"):
            raise ConfigError(f"tap kind must be 'output' or 'input', got {kind!r}")
        self.paths = list(paths)
        self.kind = kind
        self._store: dict[str, torch.Tensor] = {}
        self._handles = []
        if modules is None:  # validate every path before hooking
            modules = [resolve_module(model, p) for p in self.paths]
        for p, m in zip(self.paths, modules):
            self._handles.append(m.register_forward_hook(self._hook(p)))

    def _hook(self, path: str):
        def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            self._store[path] = inputs[0] if self.kind == "input" else output
        return fn

    def features(self) -> list[torch.Tensor]:
        """The tapped tensors of the last forward pass, in the order of ``paths``."""
        missing = [p for p in self.paths if p not in self._store]
        if missing:
            raise ConfigError(f"modules {missing} were not run by the last forward pass; tap modules that the "
                              "model's forward actually calls")
        return [self._store[p] for p in self.paths]

    def clear(self) -> None:
        self._store.clear()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._store.clear()

    def __enter__(self) -> "FeatureTaps":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def connector(c_student: int, c_teacher: int) -> nn.Module:
    """A 1x1 conv + BN mapping the student's channels to the teacher's (identity when equal)."""
    if c_student == c_teacher:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_student, c_teacher, 1, bias=False), nn.BatchNorm2d(c_teacher))


def channel_dim(shape: Sequence[int]) -> int:
    """Where a feature's channels are (without the batch): first for image maps (C, H, W), last for token
    features (T, C) and vectors (C,)."""
    return 0 if len(shape) == 3 else len(shape) - 1


def feature_connector(s_shape: Sequence[int], t_shape: Sequence[int]) -> nn.Module:
    """The connector from a student feature of ``s_shape`` to a teacher feature of ``t_shape`` (without the batch):
    a 1x1 conv + BN for image maps, a linear map of the last dimension for token features (identity when equal).

    >>> feature_connector((16, 32), (16, 64))
    Linear(in_features=32, out_features=64, bias=False)
    """
    d = channel_dim(s_shape)
    if len(s_shape) == 3:
        return connector(s_shape[0], t_shape[0])
    if s_shape[d] == t_shape[d]:
        return nn.Identity()
    return nn.Linear(s_shape[d], t_shape[d], bias=False)


def check_match(f_s: torch.Tensor, f_t: torch.Tensor, where: str, has_connector: bool) -> None:
    """Raise a clear error when student feature ``f_s`` cannot be compared with teacher feature ``f_t``."""
    if f_s.shape == f_t.shape:
        return
    hint = ("the connector maps channels only, so tap layers with the same spatial size"
            if has_connector else "enable the connector (connector=True) to map the student's channels")
    raise ConfigError(f"{where}: student feature {tuple(f_s.shape)} cannot be matched with teacher feature "
                      f"{tuple(f_t.shape)}; {hint}")


def feature_shapes(model: nn.Module, paths: Sequence[str], input_shape: Any) -> list[tuple[int, ...]]:
    """Shapes (without the batch) of the tapped features on example inputs: ``input_shape`` is one input's shape
    (zeros) or example inputs (a tensor, tuple or dict of tensors, see :mod:`torchshrink.inputs`)."""
    from ..inputs import as_example, model_device

    ex = as_example(input_shape, batch_size=2, device=model_device(model))
    was = model.training
    model.eval()
    try:
        with FeatureTaps(model, paths) as taps, torch.no_grad():
            ex.run(model)
            return [tuple(f.shape[1:]) for f in taps.features()]
    finally:
        model.train(was)
