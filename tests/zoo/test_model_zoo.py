"""The model-zoo matrix: models nobody tuned for (torchvision, timm, sequence and token models) x every transform,
through the public API, on small inputs and random weights.

Each cell either works (the changed model runs, its output shapes are the original's, and the model saved by
``save_model`` and read by ``load_model`` gives the same outputs within 1e-5) or ends in one sentence (a
:class:`~torchshrink.errors.TorchshrinkError`) saying what to use instead. Any other exception, a changed output
shape, non-finite outputs or a reload that differs fails the test. The heavy cells (structured pruning's MACs
search, static int8, factorization, structured matrices, distillation) run on the smaller models; the largest
models run the cheap cells only, so the matrix stays within a few minutes on two CPU cores.

``bench/model_zoo.py`` runs this module with ``TORCHSHRINK_ZOO_RESULTS`` set and writes ``docs/models.md`` from the
results.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torch.nn as nn

from torchshrink.errors import TorchshrinkError

CELLS = ["measure", "structured", "unstructured", "static_int8", "dynamic_int8", "lowrank", "circulant", "kd", "onnx"]
HEAVY = {"structured", "static_int8", "lowrank", "circulant", "kd"}
RESULTS: dict[str, dict[str, dict[str, Any]]] = {}


def _img(n: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(2, 3, n, n, generator=torch.Generator().manual_seed(0))


def _tokens(vocab: int, t: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(0, vocab, (2, t), generator=torch.Generator().manual_seed(0))


def _seq(t: int, c: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(2, t, c, generator=torch.Generator().manual_seed(0))


BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "vocab_size": 100, "max_position_embeddings": 64}  # a small BertForSequenceClassification, from its config
VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
       "image_size": 32, "patch_size": 8}  # a small ViTForImageClassification


# name -> (create_model name, its options, example inputs, heavy cells run, student for the KD cell)
ZOO: dict[str, tuple[str, dict[str, Any], Callable[[], Any], bool, tuple[str, dict[str, Any]] | None]] = {
    "tv:resnet18": ("tv:resnet18", {}, _img(64), True, ("resnet8", {})),
    "tv:mobilenet_v2": ("tv:mobilenet_v2", {}, _img(64), True, ("tv:mobilenet_v2", {"width": 0.5})),
    "tv:mobilenet_v3_small": ("tv:mobilenet_v3_small", {}, _img(64), True,
                              ("tv:mobilenet_v3_small", {"width": 0.5})),
    "tv:efficientnet_b0": ("tv:efficientnet_b0", {}, _img(64), False, None),
    "tv:squeezenet1_1": ("tv:squeezenet1_1", {}, _img(64), True, ("resnet8", {})),
    "tv:shufflenet_v2_x0_5": ("tv:shufflenet_v2_x0_5", {}, _img(64), True, ("resnet8", {})),
    "tv:mnasnet0_5": ("tv:mnasnet0_5", {}, _img(64), True, ("resnet8", {})),
    "tv:regnet_y_400mf": ("tv:regnet_y_400mf", {}, _img(64), False, None),
    "tv:googlenet": ("tv:googlenet", {"init_weights": False}, _img(64), False, None),
    "tv:densenet121": ("tv:densenet121", {}, _img(64), False, None),
    "tv:convnext_tiny": ("tv:convnext_tiny", {}, _img(64), False, None),
    "tv:vit_b_16": ("tv:vit_b_16", {"image_size": 32}, _img(32), False, None),
    "tv:swin_t": ("tv:swin_t", {}, _img(64), False, None),
    "timm:resnet10t": ("timm:resnet10t", {}, _img(64), True, ("resnet8", {})),
    "timm:vit_tiny_patch16_224": ("timm:vit_tiny_patch16_224", {"img_size": 32}, _img(32), True, ("resnet8", {})),
    "transformer_seq": ("transformer_seq", {"in_channels": 8}, _seq(16, 8), True,
                        ("transformer_seq", {"in_channels": 8, "width": 0.5, "depth": 1})),
    "lstm_text": ("lstm_text", {"vocab_size": 100}, _tokens(100, 16), True,
                  ("lstm_text", {"vocab_size": 100, "width": 0.5})),
    "transformer_text": ("transformer_text", {"vocab_size": 100}, _tokens(100, 16), True,
                         ("transformer_text", {"vocab_size": 100, "width": 0.5, "depth": 1})),
    "hf:bert": ("hf:bert", BERT, lambda: {"input_ids": _tokens(100, 16)(),
                                          "attention_mask": torch.ones(2, 16, dtype=torch.long)}, True,
                ("hf:bert", {**BERT, "num_hidden_layers": 1, "intermediate_size": 32})),
    "hf:vit": ("hf:vit", VIT, _img(32), True, ("hf:vit", {**VIT, "num_hidden_layers": 1, "intermediate_size": 32})),
}
_BUILT: dict[str, nn.Module] = {}


def _model(key: str) -> nn.Module:
    """A fresh copy of the zoo model (built once per test session, seeded)."""
    if key not in _BUILT:
        from torchshrink.models import create_model

        name, kw, _, _, _ = ZOO[key]
        torch.manual_seed(0)
        _BUILT[key] = create_model(name, num_classes=10, **kw).eval()
    return copy.deepcopy(_BUILT[key])


def _outputs(model: nn.Module, x: Any) -> torch.Tensor:
    from torchshrink.inputs import as_example

    model.eval()
    with torch.no_grad():
        out = as_example(x).run(model)
    return out.logits if hasattr(out, "logits") else out


def _round_trip(model: nn.Module, x: Any, tmp: Path) -> float:
    """The largest difference between ``model``'s outputs and those of its saved and reloaded copy."""
    from torchshrink.models import load_model, save_model

    save_model(model, tmp / "m.pt")
    return float((_outputs(load_model(tmp / "m.pt"), x) - _outputs(model, x)).abs().max())


def _transform(cell: str, model: nn.Module, x: Any, key: str) -> tuple[nn.Module, str]:
    from torchshrink.compress import compress_
    from torchshrink.lowrank import FactorizeConfig
    from torchshrink.prune import MagnitudeConfig, StructuredConfig
    from torchshrink.quant import DynamicConfig, PTQConfig
    from torchshrink.structured import StructureConfig

    configs = {"structured": StructuredConfig(macs=0.5), "unstructured": MagnitudeConfig(sparsity=0.8, scope="layer"),
               "static_int8": PTQConfig(observer="minmax", calib_batches=1), "dynamic_int8": DynamicConfig(),
               "lowrank": FactorizeConfig(measure=False, rank="fixed", rank_ratio=0.25), "circulant": StructureConfig(measure=False, keep="size")}
    r = compress_(model, configs[cell], x)
    detail = ""
    if r.macs_before and r.macs_after is not None and cell == "structured":
        detail = f"MACs x{r.macs_after / r.macs_before:.2f}"
    elif r.layers:
        detail = f"{len(r.kept)} of {len(r.layers)} layers"
    elif cell == "unstructured":
        detail = f"sparsity {r.metrics.get('sparsity', 0):.2f}"
    return r.model, detail


def _kd(model: nn.Module, x: Any, key: str) -> tuple[nn.Module, str]:
    from torchshrink.distill import make_distiller
    from torchshrink.models import create_model

    name, kw = ZOO[key][4]
    torch.manual_seed(0)
    in_ch = {"in_channels": 3} if isinstance(x, torch.Tensor) and x.dim() == 4 else {}
    student = create_model(name, num_classes=10, **{**in_ch, **kw})
    task = make_distiller("kd", student, model)
    opt = torch.optim.SGD(student.parameters(), lr=0.01)
    task.train()
    _, losses = task.forward_train(x, torch.zeros(2, dtype=torch.long))
    loss = sum(losses.values())
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    return student, f"student {100 * sum(p.numel() for p in student.parameters()) / sum(p.numel() for p in model.parameters()):.0f}% of the parameters"


def _onnx(model: nn.Module, x: Any) -> tuple[None, str]:
    """Export to ONNX, run in ONNX Runtime, compare with PyTorch."""
    from torchshrink.deploy.onnx_model import OnnxModel, export_onnx

    onnx = OnnxModel(export_onnx(model, x), "onnxruntime")
    diff = float((onnx(x) - _outputs(model, x)).abs().max())
    assert diff < 1e-3 * max(1.0, float(_outputs(model, x).abs().max())), diff
    return None, f"max difference {diff:.1e}"


def run_cell(key: str, cell: str, tmp: Path) -> dict[str, Any]:
    """Run one cell; returns ``{"status": "ok" | "refused", "detail": ..., "seconds": ...}`` (other failures raise)."""
    from torchshrink.measure import measure
    from torchshrink.replace import forward_problem, reference_shapes
    from torchshrink.inputs import as_example

    x = ZOO[key][2]()
    model = _model(key)
    ex = as_example(x)
    expected = reference_shapes(model, ex)
    t0 = time.perf_counter()
    try:
        if cell == "measure":
            m = measure(model, ex.batch(1), latency=False)
            detail = f"{m.macs / 1e6:.1f}M MACs" if m.macs else "MACs not counted"
            if m.uncounted:
                detail += f" (not counted: {', '.join(m.uncounted)})"
            if m.unused_params:
                detail += f"; {m.unused_params:,} training-only parameters apart"
            out = model
        elif cell == "onnx":
            out, detail = _onnx(model, x)
        elif cell == "kd":
            out, detail = _kd(model, x, key)
        else:
            out, detail = _transform(cell, model, x, key)
    except TorchshrinkError as e:
        message = str(e)
        assert "\n" not in message, message
        return {"status": "refused", "detail": message, "seconds": time.perf_counter() - t0}
    if out is not None:
        why = forward_problem(out, ex, expected)
        assert why is None, f"{key} x {cell}: {why}"
        diff = _round_trip(out, x, tmp)
        assert diff <= 1e-5, f"{key} x {cell}: the reloaded model differs by {diff}"
    return {"status": "ok", "detail": detail, "seconds": time.perf_counter() - t0}


def _params() -> list[Any]:
    out = []
    for key, (_, _, _, heavy, student) in ZOO.items():
        for cell in CELLS:
            if cell in HEAVY and not heavy or (cell == "kd" and student is None):
                continue
            marks = [pytest.mark.slow] if cell in HEAVY else []
            out.append(pytest.param(key, cell, id=f"{key}-{cell}", marks=marks))
    return out


@pytest.mark.parametrize("key,cell", _params())
def test_cell_works_or_says_what_to_use_instead(key: str, cell: str, tmp_path: Path) -> None:
    result = run_cell(key, cell, tmp_path)
    RESULTS.setdefault(key, {})[cell] = result
    out = os.environ.get("TORCHSHRINK_ZOO_RESULTS")
    if out:  # bench/model_zoo.py: docs/models.md is written from these results
        Path(out).write_text(json.dumps({"cells": CELLS, "models": list(ZOO), "results": RESULTS}, indent=1))
    if result["status"] == "refused":  # one sentence that says what to do instead
        assert any(w in result["detail"] for w in ("instead", " use ", "pass ", "keep ", "run it", "export it", "quantize with")), result


def test_every_model_is_in_the_matrix() -> None:
    """At least 12 torchvision models of different families, 2 timm models, and the sequence models."""
    families = {k.split(":")[1].rstrip("0123456789_x").split("_")[0] for k in ZOO if k.startswith("tv:")}
    assert len([k for k in ZOO if k.startswith("tv:")]) >= 12 and len(families) >= 10
    assert len([k for k in ZOO if k.startswith("timm:")]) >= 2
    assert {"transformer_seq", "lstm_text", "transformer_text", "hf:bert", "hf:vit"} <= set(ZOO)
