"""What one eval-mode forward pass costs and reads: MACs, the parameters it uses, the layers it could not count.

torch's flop counter (``torch.utils.flop_counter``) counts matmuls, convolutions and attention kernels but not
the recurrent kernels (``nn.LSTM``/``nn.GRU``/``nn.RNN`` call one fused op), int8 kernels, or the fused
transformer fast path. :func:`count_forward` runs the model once with

- the fast path of ``nn.MultiheadAttention``/``nn.TransformerEncoderLayer`` switched off, so their projections
  and attention are seen as the matmuls they are (the outputs are the same);
- attention on CPU (``_scaled_dot_product_flash_attention_for_cpu``) counted with torch's own SDPA formula;
- formulas for the layers the counter cannot see: recurrent layers (gates x hidden x (input + hidden) per
  step and direction, plus an LSTM's projection) and quantized convolutions and linear layers (the same MACs
  as their float versions);
- a record of which parameters the forward reads: parameters of training-only heads (GoogLeNet's auxiliary
  classifiers run only in training mode) are reported as unused, not counted as part of the model that runs;
- the types of layers with weights that ran but were counted 0 MACs (``uncounted``): a count that is partial
  says so.

>>> import torch, torch.nn as nn
>>> lstm = nn.LSTM(8, 16, batch_first=True)
>>> c = count_forward(lstm, torch.zeros(1, 5, 8))
>>> c.macs == 5 * 4 * 16 * (8 + 16), c.uncounted, c.unused_params
(True, [], 0)
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..inputs import ExampleLike, as_example, first_tensor, model_device

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
NO_MACS: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)  # lookups: 0 MACs is the right count


def _cpu_sdpa(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
              **kwargs: Any) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flop_counter() -> FlopCounterMode:
    """torch's flop counter, with CPU attention counted as torch counts it on GPU."""
    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = _cpu_sdpa
    return FlopCounterMode(display=False, custom_mapping=mapping)


@contextlib.contextmanager
def no_fastpath() -> Iterator[None]:
    """The transformer fast path off (the same outputs through ops the flop counter sees), restored after."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None:
        yield
        return
    was = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(was)


def recurrent_macs(m: nn.Module, x: torch.Tensor) -> int:
    """MACs of a recurrent layer (``mode`` LSTM, GRU, RNN_TANH/RELU) on input ``x``: per step and direction,
    gates x hidden x (layer input + recurrent input), plus an LSTM's projection hidden x proj_size.

    >>> recurrent_macs(nn.GRU(4, 8, num_layers=2, bidirectional=True), torch.zeros(3, 1, 4))
    5184
    """
    gates, hidden = GATES[m.mode], int(m.hidden_size)
    proj = int(getattr(m, "proj_size", 0) or 0)
    dirs = 2 if m.bidirectional else 1
    steps = x.numel() // int(m.input_size)  # time steps x batch (a packed sequence: the sum of the lengths)
    out = proj or hidden
    total = 0
    for layer in range(int(m.num_layers)):
        inp = int(m.input_size) if layer == 0 else out * dirs
        per_step = gates * hidden * (inp + out) + hidden * proj
        total += dirs * steps * per_step
    return total


def formula_macs(m: nn.Module, inputs: Any, output: Any) -> int | None:
    """MACs by formula for a layer the flop counter cannot see (recurrent, quantized conv/linear), else None."""
    x, y = first_tensor(inputs), first_tensor(output)
    if x is None:
        return None
    if getattr(m, "mode", None) in GATES and hasattr(m, "hidden_size"):
        return recurrent_macs(m, x)
    if y is None:
        return None
    if hasattr(m, "in_features") and hasattr(m, "out_features"):
        return y.numel() * int(m.in_features)
    if hasattr(m, "in_channels") and hasattr(m, "kernel_size") and hasattr(m, "out_channels"):
        k = m.kernel_size if isinstance(m.kernel_size, (tuple, list)) else (m.kernel_size,)
        return y.numel() * int(m.in_channels) // int(getattr(m, "groups", 1) or 1) * math.prod(int(v) for v in k)
    return None


def _has_weight(m: nn.Module) -> bool:
    w = getattr(m, "weight", None)
    if callable(w) and not isinstance(w, (torch.Tensor, nn.Module)):
        try:
            w = w()
        except Exception:  # a weight() method that needs more than the module
            return False
    return isinstance(w, torch.Tensor) and w.dim() >= 2


class _Reads(TorchDispatchMode):
    """Records the storages of every tensor an op reads (to tell which parameters a forward pass uses)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def _note(self, a: Any) -> None:
        if isinstance(a, torch.Tensor):
            with contextlib.suppress(Exception):  # tensors without storage (quantized, nested, meta)
                self.seen.add(a.untyped_storage().data_ptr())
        elif isinstance(a, (tuple, list)):
            for v in a:
                self._note(v)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self._note(args)
        self._note(list((kwargs or {}).values()))
        return func(*args, **(kwargs or {}))


@dataclass
class ForwardCount:
    """One forward pass: FLOPs (2 per MAC), MACs per module name, parameters it never read, uncounted types."""

    flops: int
    module_macs: dict[str, int] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    unused_params: int = 0
    uncounted: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return self.flops // 2


def count_forward(model: nn.Module, example: ExampleLike, batch_size: int = 1) -> ForwardCount:
    """Count one eval-mode, no-gradient forward pass of ``model`` on ``example`` resized to ``batch_size``
    (see the module docstring); the model's mode is restored."""
    ex = as_example(example, batch_size=batch_size, device=model_device(model))
    names = {m: n for n, m in model.named_modules()}
    formula: dict[str, int] = {}
    ran: dict[str, nn.Module] = {}

    def hook(mod: nn.Module, inp: Any, out: Any) -> None:
        name = names.get(mod)
        if name is None:
            return
        ran[name] = mod
        f = formula_macs(mod, inp, out)
        if f is not None:
            formula[name] = formula.get(name, 0) + f

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was = model.training
    model.eval()
    counter, reads = flop_counter(), _Reads()
    try:
        with torch.no_grad(), no_fastpath(), counter, reads:
            ex.run(model)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    root = type(model).__name__
    counts = {k: int(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    seen = lambda n: counts.get(f"{root}.{n}" if n else root, 0)  # noqa: E731
    module_macs = {n: seen(n) // 2 for n in ran}
    extra = 0
    for n, f in formula.items():
        if seen(n) == 0 and not any(seen(o) for o in ran if o.startswith(n + ".")):
            extra += f
            module_macs[n] = f
            for a in _ancestors(n):
                if a in module_macs:
                    module_macs[a] += f
    uncounted = sorted({type(m).__name__ for n, m in ran.items() if module_macs.get(n, 0) == 0 and _has_weight(m)
                        and not isinstance(m, NO_MACS) and not any(o.startswith(n + ".") for o in ran)})
    unused = [n for n, p in model.named_parameters() if _storage(p) not in reads.seen]
    params = dict(model.named_parameters())
    return ForwardCount(int(counter.get_total_flops()) + 2 * extra, module_macs, unused,
                        sum(params[n].numel() for n in unused), uncounted)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts))]


def _storage(p: torch.Tensor) -> int | None:
    try:
        return p.untyped_storage().data_ptr()
    except Exception:  # a parameter without storage
        return None


def read_directly(model: nn.Module, example: ExampleLike, types: tuple[type[nn.Module], ...] = (nn.Linear,)
                  ) -> list[str]:
    """Names of layers of ``types`` whose weights an eval-mode forward pass reads without calling the layer: their
    parent uses ``layer.weight`` itself (``nn.MultiheadAttention``'s out_proj, ``nn.TransformerEncoderLayer``'s fast
    path, torchvision Swin's window attention), so the layer cannot be swapped for a module without a dense weight.

    >>> read_directly(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), torch.zeros(1, 4, 16))
    ['self_attn.out_proj', 'linear1', 'linear2']
    """
    ex = as_example(example, batch_size=1, device=model_device(model))
    names = {m: n for n, m in model.named_modules() if isinstance(m, types)}
    called: set[str] = set()

    def hook(mod: nn.Module, inp: Any, out: Any) -> None:
        if mod in names:
            called.add(names[mod])

    # a global hook: hooks on the layers themselves would switch the transformer fast path off
    handle = nn.modules.module.register_module_forward_hook(hook)
    was = model.training
    model.eval()
    reads = _Reads()
    try:
        with torch.no_grad(), reads:
            ex.run(model)
    finally:
        handle.remove()
        model.train(was)
    return [n for n, m in model.named_modules() if isinstance(m, types) and n not in called
            and any(_storage(p) in reads.seen for p in m.parameters(recurse=False))]
