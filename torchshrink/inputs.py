"""Example inputs: what a model eats, as a real batch, for tracing, counting, timing and calibration.

A model's example input is one of

- a tensor (any dtype: float images, int64 token ids, ...), its first dimension the batch;
- a tuple of tensors (positional arguments of ``forward``);
- a dict of tensors (keyword arguments of ``forward``, e.g. ``input_ids`` and ``attention_mask``);
- the shorthand for one float image batch: an input shape without the batch dimension, e.g. ``(1, 28, 28)``.

:func:`as_example` turns any of these into an :class:`Example`; :meth:`Example.run` calls a model on it and
:meth:`Example.batch` gives the same input at another batch size, so code that times a model at batch 1 and 64 or
traces its layers never needs to know what the model takes.

>>> import torch
>>> ex = as_example((1, 28, 28))
>>> ex.describe()
'float32 (1, 1, 28, 28)'
>>> ex.batch(4).describe()
'float32 (4, 1, 28, 28)'
>>> tokens = as_example(torch.randint(0, 100, (2, 16)))
>>> tokens.batch(5).describe(), tokens.is_image
('int64 (5, 16)', False)
>>> as_example({"input_ids": torch.zeros(1, 8, dtype=torch.long)}).run(lambda input_ids: input_ids.sum())
tensor(0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

import torch

from .errors import ConfigError

ExampleLike = Union["Example", torch.Tensor, Sequence[Any], Mapping[str, torch.Tensor]]


def _map(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return value


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _resize(t: torch.Tensor, n: int) -> torch.Tensor:
    """``t`` with ``n`` rows: the first ``n`` rows, or its rows repeated until there are ``n``."""
    if t.dim() == 0 or t.shape[0] == n:
        return t
    if t.shape[0] > n:
        return t[:n]
    reps = -(-n // t.shape[0])
    return t.repeat(reps, *([1] * (t.dim() - 1)))[:n]


@dataclass(frozen=True)
class Example:
    """A model's example input (``value``: a tensor, a tuple of tensors or a dict of tensors)."""

    value: Any

    @property
    def tensors(self) -> list[torch.Tensor]:
        """Every tensor of the input, in order."""
        return _tensors(self.value)

    @property
    def first(self) -> torch.Tensor:
        """The first tensor of the input (the image batch, or the token ids)."""
        return self.tensors[0]

    @property
    def batch_size(self) -> int:
        t = self.first
        return int(t.shape[0]) if t.dim() else 1

    @property
    def shape(self) -> tuple[int, ...]:
        """The first tensor's shape without its batch dimension."""
        return tuple(self.first.shape[1:])

    @property
    def is_image(self) -> bool:
        """True for one float tensor of shape (B, C, H, W)."""
        t = self.value
        return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() == 4

    @property
    def device(self) -> torch.device:
        return self.first.device

    def run(self, model: Callable[..., Any]) -> Any:
        """``model`` called on this input (positional for a tuple, keywords for a dict)."""
        if isinstance(self.value, tuple):
            return model(*self.value)
        if isinstance(self.value, dict):
            return model(**self.value)
        return model(self.value)

    def batch(self, n: int) -> "Example":
        """The same input with ``n`` rows in every tensor (rows repeated or cut)."""
        return Example(_map(self.value, lambda t: _resize(t, n)))

    def to(self, device: str | torch.device) -> "Example":
        return Example(_map(self.value, lambda t: t.to(device)))

    def channels_last(self) -> "Example":
        """4-D float tensors in the channels-last (NHWC) memory format; everything else as it is."""
        return Example(_map(self.value, lambda t: t.contiguous(memory_format=torch.channels_last)
                            if t.dim() == 4 and t.is_floating_point() else t))

    def random_like(self, generator: torch.Generator | None = None) -> "Example":
        """Float tensors replaced by standard normal noise of the same shape (integer tensors kept)."""
        return Example(_map(self.value, lambda t: torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)
                            if t.is_floating_point() else t))

    def describe(self) -> str:
        """``dtype (shape)`` of each tensor, e.g. ``float32 (1, 3, 32, 32)``."""
        parts = [f"{str(t.dtype).replace('torch.', '')} {tuple(t.shape)}" for t in self.tensors]
        return ", ".join(parts)


def as_example(spec: ExampleLike | None, batch_size: int | None = None, device: str | torch.device | None = None
               ) -> Example:
    """An :class:`Example` from a tensor, a tuple of tensors, a dict of tensors or an input shape (ints).

    ``batch_size`` resizes every tensor's batch dimension; ``device`` moves them. An input shape builds zeros of
    shape ``(batch_size or 1, *shape)``.

    >>> as_example((3, 32, 32), batch_size=2).describe()
    'float32 (2, 3, 32, 32)'
    >>> as_example("x")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: example inputs must be a tensor, a tuple of tensors, a dict of tensors or an input shape such as (3, 32, 32); got str 'x'
    """
    if isinstance(spec, Example):
        ex = spec
    elif isinstance(spec, torch.Tensor):
        ex = Example(spec if spec.dim() else spec.reshape(1))
    elif isinstance(spec, Mapping) and spec and all(isinstance(v, torch.Tensor) for v in spec.values()):
        ex = Example(dict(spec))
    elif isinstance(spec, (tuple, list, torch.Size)) and spec and all(isinstance(v, torch.Tensor) for v in spec):
        ex = Example(tuple(spec))
    elif isinstance(spec, (tuple, list, torch.Size)) and spec and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in spec):
        ex = Example(torch.zeros(batch_size or 1, *[int(v) for v in spec]))
    else:
        shown = repr(spec)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ConfigError("example inputs must be a tensor, a tuple of tensors, a dict of tensors or an input shape "
                          f"such as (3, 32, 32); got {type(spec).__name__} {shown}")
    if batch_size is not None and ex.batch_size != batch_size:
        ex = ex.batch(batch_size)
    if device is not None:
        ex = ex.to(device)
    return ex


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s first parameter (or buffer) lives; CPU for a model without any."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def example_spec(example: ExampleLike) -> dict[str, Any]:
    """A JSON-ready description of an example input (kind, keys, each tensor's shape and dtype), from which
    :func:`from_spec` builds an equivalent input (zeros) to rebuild a model on load.

    >>> from_spec(example_spec(torch.zeros(2, 8, dtype=torch.long))).describe()
    'int64 (1, 8)'
    """
    ex = as_example(example, batch_size=1)
    kind = "tuple" if isinstance(ex.value, tuple) else "dict" if isinstance(ex.value, dict) else "tensor"
    spec: dict[str, Any] = {"kind": kind, "tensors": [{"shape": list(t.shape[1:]), "dtype": str(t.dtype).replace(
        "torch.", "")} for t in ex.tensors]}
    if kind == "dict":
        spec["keys"] = list(ex.value)
    return spec


def from_spec(spec: Mapping[str, Any] | Sequence[int]) -> Example:
    """The example input (zeros, batch 1) a :func:`example_spec` describes; an int list is an input shape."""
    if not isinstance(spec, Mapping):
        return as_example(tuple(int(s) for s in spec))
    tensors = [torch.zeros(1, *[int(d) for d in t["shape"]], dtype=getattr(torch, str(t["dtype"])))
               for t in spec["tensors"]]
    if spec.get("kind") == "dict":
        return Example(dict(zip(spec["keys"], tensors)))
    if spec.get("kind") == "tuple":
        return Example(tuple(tensors))
    return Example(tensors[0])


def first_tensor(x: Any) -> torch.Tensor | None:
    """The first tensor in a layer's inputs or outputs (a tensor, nested tuples/lists/dicts, or a PackedSequence-like
    object's ``data``), or None."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list, dict)):
        for v in (x.values() if isinstance(x, dict) else x):
            t = first_tensor(v)
            if t is not None:
                return t
        return None
    if isinstance(getattr(x, "data", None), torch.Tensor):  # a PackedSequence
        return x.data
    return None
