"""Whether a changed model still works on its example inputs: it runs, gives outputs of the same structure and
shapes as before, and every value is finite. Every transform checks its result with it and undoes what breaks.

>>> import torch.nn as nn
>>> from torchshrink.inputs import as_example
>>> x = as_example((3,))
>>> m = nn.Linear(3, 2)
>>> before = reference_shapes(m, x)
>>> before, forward_problem(m, x, before)
((1, 2), None)
>>> forward_problem(nn.Linear(3, 4), x, before)
"the model's output shape changed ((1, 4) instead of (1, 2))"
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from .inputs import Example


def _shapes(out: Any) -> Any:
    """The nested structure of an output with each tensor replaced by its shape (for before/after checks)."""
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        return [_shapes(v) for v in out]
    if isinstance(out, dict):
        return {k: _shapes(v) for k, v in out.items()}
    if hasattr(out, "to_tuple"):  # transformers' ModelOutput
        return _shapes(out.to_tuple())
    return type(out).__name__


def _finite(out: Any) -> bool:
    if isinstance(out, torch.Tensor):
        return not out.is_floating_point() or bool(torch.isfinite(out).all())
    if isinstance(out, (tuple, list)):
        return all(_finite(v) for v in out)
    if isinstance(out, dict):
        return all(_finite(v) for v in out.values())
    if hasattr(out, "to_tuple"):
        return _finite(out.to_tuple())
    return True


def forward_problem(model: nn.Module, example: Example, expected: Any) -> str | None:
    """Why ``model`` no longer works on ``example`` (crash, other output shapes, non-finite values), or None."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = example.run(model)
    except Exception as e:  # the point: any failure of the changed model is caught and reported
        return f"its forward pass failed ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
    finally:
        model.train(was)
    got = _shapes(out)
    if got != expected:
        return f"the model's output shape changed ({got} instead of {expected})"
    if not _finite(out):
        return "the model's output has NaN or infinite values"
    return None


def reference_shapes(model: nn.Module, example: Example) -> Any:
    """The output structure of ``model`` on ``example`` (eval mode, no gradients), for :func:`forward_problem`."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _shapes(example.run(model))
    finally:
        model.train(was)
