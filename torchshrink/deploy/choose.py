"""Choose where a model runs by measuring it: prepare it for every runtime that can run it, check each one's
accuracy after export on validation data, time the ones that keep it side by side at the user's batch size
(interleaved, same input, same threads), and keep the fastest.

Which runtime is fastest depends on the CPU, the model's layer shapes, the batch size and the thread count: on
one 2-core CPU ONNX Runtime ran a float ResNet-8x4 faster than PyTorch's int8 kernels at batch 1, and PyTorch's
oneDNN int8 tied ONNX Runtime int8 at batch 64. No fixed default is right everywhere, so ``runtime="auto"``
measures. A runtime that quantizes changes the model's outputs: one whose top-1 falls more than
``max_top1_drop`` points below the model's own (PyTorch eager) on the validation data is refused, and the
:class:`RuntimeChoice` says so, with every candidate's time and accuracy.

>>> import torch
>>> from torchshrink.models import create_model
>>> m = create_model("resnet8", num_classes=3, in_channels=1).eval()
>>> x = torch.randn(4, 1, 16, 16)
>>> best, choice = choose_runtime(m, x, candidates=["eager", "channels-last"], repeats=3)
>>> choice.target in ("eager", "channels-last"), sorted(choice.latency_ms)
(True, ['channels-last', 'eager'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError, TorchshrinkError
from ..measure.latency import Interleave, latency_many, paired_medians
from ..quant.ptq import register_int8_chooser
from .base import RUNTIMES, all_targets, get_runtime, is_quantized, runtime_of, split_target, timing_block


@dataclass
class RuntimeChoice:
    """The target kept; each candidate's median latency (ms) at ``batch_size`` with ``threads`` threads, its top-1
    after export (percent, on ``val_images`` validation images), and why the others were refused. ``timed_again``:
    the round-paired medians (ms) of those within 15% of the fastest timed again among themselves, which chose
    between them (:func:`fastest`); ``latency_ms`` is the first timing, every candidate side by side."""

    target: str
    latency_ms: dict[str, float]
    batch_size: int
    threads: int
    top1: dict[str, float] = field(default_factory=dict)
    reference_top1: float | None = None
    val_images: int = 0
    max_top1_drop: float = 1.0
    refused: dict[str, str] = field(default_factory=dict)
    timed_again: dict[str, float] = field(default_factory=dict)

    @property
    def runtime(self) -> str:
        return split_target(self.target)[0]

    @property
    def kernel(self) -> str:
        return split_target(self.target)[1]

    def summary(self) -> str:
        """What was kept and why: the times, the accuracy after export, what was refused.

        >>> c = RuntimeChoice("onnxruntime", {"eager": 8.2, "onnxruntime": 2.6}, 1, 2, {"eager": 90.0,
        ...                   "onnxruntime": 90.0}, 90.0, 600, refused={"torch-int8/x86": "top-1 fell 2.00 points"})
        >>> print(c.summary())
        runtime: onnxruntime, the fastest measured here (batch 1, 2 threads: onnxruntime 2.600 ms, eager 8.200 ms); top-1 after export on 600 validation images: onnxruntime 90.00, eager 90.00 (the model itself 90.00); refused: torch-int8/x86 (top-1 fell 2.00 points)
        """
        order = sorted(self.latency_ms, key=self.latency_ms.get)
        times = ", ".join(f"{t} {self.latency_ms[t]:.3f} ms" for t in order)
        if len(self.timed_again) > 1:  # the near ties: a second timing among themselves chose between them
            times += f"; within {NEAR_TIE:.0%} of the fastest, timed again among themselves: " + ", ".join(
                f"{t} {v:.3f} ms" for t, v in sorted(self.timed_again.items(), key=lambda kv: kv[1]))
        why = (f"the fastest measured here (batch {self.batch_size}, {self.threads} threads: {times})" if len(order) > 1
               else f"as asked ({times} at batch {self.batch_size}, {self.threads} threads)" if order else "as asked")
        out = f"runtime: {self.target}, {why}"
        if self.top1:
            accs = ", ".join(f"{t} {self.top1[t]:.2f}" for t in order + [t for t in self.top1 if t not in order])
            ref = f" (the model itself {self.reference_top1:.2f})" if self.reference_top1 is not None else ""
            out += f"; top-1 after export on {self.val_images} validation images: {accs}{ref}"
        if self.refused:
            out += "; refused: " + ", ".join(f"{t} ({r})" for t, r in self.refused.items())
        return out


def candidates_for(model: nn.Module, example: torch.Tensor, int8: bool = False, calibration: bool = True,
                   among: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The targets that can run ``model`` here, and for each other one why not.

    ``int8``: only the targets whose model is int8 (a quantizing runtime, or any runtime that runs an int8
    model as it is); ``calibration``: calibration batches are available (quantizing runtimes need them);
    ``among``: consider only these targets.
    """
    ok: list[str] = []
    why: dict[str, str] = {}
    for t in list(among) if among is not None else all_targets():
        rt, kernel = get_runtime(t)
        if int8 and not rt.quantizes and not is_quantized(model):
            continue
        reason = rt.missing() or rt.kernel_missing(kernel) or rt.refuses(model, example, kernel)
        if not reason and rt.quantizes and not is_quantized(model) and not calibration:
            if among is None:  # not asked for by name: one note for all of them
                why["int8 runtimes"] = "not tried: they quantize the model and need calibration batches"
                continue
            reason = ("quantizes the model and needs calibration batches: pass calibration=[...] (torchshrink "
                      "export and quantize take them from the training data)")
        if reason:
            why[t] = reason
        else:
            ok.append(t)
    return ok, why


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


@register_int8_chooser
def choose_runtime(model: nn.Module, example: torch.Tensor, calibration: Sequence[torch.Tensor] | None = None,
                   val: Iterable | None = None, candidates: Sequence[str] | None = None, batch_size: int = 1,
                   max_top1_drop: float = 1.0, threads: int | None = None, repeats: int = 20, warmup: int = 10,
                   val_batches: int | None = None, int8: bool = False, block: int | Interleave | None = None,
                   **options: Any) -> tuple[nn.Module, RuntimeChoice]:
    """Prepare ``model`` for each candidate target, refuse those whose top-1 after export on ``val`` falls more than
    ``max_top1_drop`` points below the model's own, time the rest interleaved on ``batch_size`` rows of ``example``
    and return the fastest (a new module tagged ``torchshrink_runtime_choice``, or ``model`` itself when eager wins)
    with the :class:`RuntimeChoice`.

    ``candidates``: targets such as ``"onnxruntime-int8/u8"`` (default: every one that runs the model here, only
    the int8 ones with ``int8=True``); ``calibration``: batches for the runtimes that quantize; ``options`` go to
    them (``observer``, ``per_channel``). Without ``val`` accuracy is not checked. One candidate is prepared and
    checked but not timed. ``block``: how the timing takes turns among the candidates, an int or an
    :class:`~torchshrink.measure.latency.Interleave` (default :func:`~torchshrink.deploy.base.timing_block`'s:
    when they run in different thread pools, a sleep and untimed calls at each turn, the timed ones lasting at
    least 10 ms, a new order each round);
    ``repeats`` counts rounds.
    ``model`` is left unchanged.
    """
    if batch_size < 1 or repeats < 1:
        raise ConfigError(f"batch_size and repeats must be >= 1, got {batch_size} and {repeats}")
    if max_top1_drop < 0:
        raise ConfigError(f"max_top1_drop must be >= 0 points, got {max_top1_drop}")
    model = model.eval()
    ok, refused = candidates_for(model, example, int8, bool(calibration), candidates)
    prepared: dict[str, nn.Module] = {}
    for t in ok:
        rt, kernel = get_runtime(t)
        try:
            prepared[t] = rt.prepare(model, example, kernel, calibration, **options)
        except TorchshrinkError as e:
            if len(ok) == 1:  # the one runtime there is: its own sentence says what to do
                raise
            refused[t] = _first_line(e)
    top1, reference, n_val = _check_accuracy(model, prepared, refused, val, val_batches, max_top1_drop)
    if not prepared:
        reasons = "; ".join(f"{t}: {r}" for t, r in refused.items()) or "no runtime was asked for"
        raise TorchshrinkError(f"no runtime can run this model as asked ({reasons}); allow a larger accuracy drop "
                               "(max_top1_drop), give calibration data, or name a runtime that runs it")
    if len(prepared) == 1:
        (best,) = prepared
        lat_ms, again = {}, {}
        n_threads = threads or torch.get_num_threads()
    else:
        best, lat_ms, n_threads, again = fastest(prepared, example, batch_size, repeats, warmup, threads, block)
    runtime, kernel = split_target(best)
    if runtime == "torch-int8" and kernel in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = kernel  # what its int8 kernels run under from here on
    choice = RuntimeChoice(best, lat_ms, batch_size, n_threads, top1, reference, n_val, max_top1_drop, refused, again)
    out = prepared[best]
    if out is not model:  # the model itself (eager) is not tagged: it is left as it was
        out.torchshrink_runtime_choice = choice
    return out, choice


def _check_accuracy(model: nn.Module, prepared: dict[str, nn.Module], refused: dict[str, str], val: Iterable | None,
                    val_batches: int | None, max_top1_drop: float) -> tuple[dict[str, float], float | None, int]:
    """Top-1 of each prepared model on ``val``; those more than ``max_top1_drop`` below the model's own are moved
    from ``prepared`` to ``refused`` (both changed in place). Returns (top-1 by target, the model's own, images)."""
    from ..engine.evaluate import evaluate

    top1: dict[str, float] = {}
    if val is None or not prepared:
        return top1, None, 0
    r = evaluate(model, val, max_batches=val_batches)
    reference, n_val = r["top1"], int(r["n"])
    own = runtime_of(model)
    for t, m in list(prepared.items()):
        acc = reference if m is model else evaluate(m, val, max_batches=val_batches)["top1"]
        top1[t] = acc
        if reference - acc > max_top1_drop:
            refused[t] = (f"top-1 after export {acc:.2f}, {reference - acc:.2f} points below the model's own "
                          f"{reference:.2f} ({own}), more than the allowed {max_top1_drop:g} (max_top1_drop)")
            del prepared[t]
    return top1, reference, n_val


NEAR_TIE = 0.15  # runtimes within this fraction of the fastest are timed again before one is kept


def fastest(prepared: dict[str, nn.Module], example: torch.Tensor, batch_size: int = 1, repeats: int = 20,
            warmup: int = 10, threads: int | None = None, block: int | Interleave | None = None,
            near: float = NEAR_TIE) -> tuple[str, dict[str, float], int, dict[str, float]]:
    """Time prepared models side by side on ``batch_size`` rows of ``example``: (the fastest's name, each one's
    median ms, the thread count, the near ties' round-paired median ms in their second timing, empty when there was
    none). What ``runtime="auto"`` decides by, given the candidates that kept their accuracy.

    Those within ``near`` of the fastest are timed again, among themselves, with twice the repeats, and that
    second timing alone decides between them, by round-paired medians (returned apart): a first timing of few
    repeats can put a runtime 10-15% ahead by chance, and a few runtimes taking turns in short rounds are compared
    in turns closer in time than in the long rounds of every runtime, where the machine's drift weighs more (on a
    2-vCPU VM the ratio of two near-identical models varied a little less from pass to pass that way:
    docs/deploy.md); pairing the turns by round takes out the drift a round shares, which tipped the worst passes.
    (:func:`time_near_ties` is the second timing, for callers that time a baseline beside the candidates.)

    >>> import torch.nn as nn
    >>> best, ms, _, again = fastest({"small": nn.Linear(4, 2), "big": nn.Sequential(*[nn.Linear(4, 4)] * 50)},
    ...                       torch.ones(1, 4), repeats=5, warmup=1, block=1)
    >>> best, sorted(ms), again
    ('small', ['big', 'small'], {})
    """
    plan = timing_block(prepared.values()) if block is None else block
    lat = latency_many(prepared, example, batch_size, repeats, warmup, threads, block=plan, real=True)
    first = {k: v.median_ms for k, v in lat.items()}
    ms = dict(first)
    close = time_near_ties(prepared, ms, example, batch_size, repeats, warmup, threads, block, near)
    again = {k: ms[k] for k in close} if len(close) > 1 else {}
    return min(close, key=ms.get), first, next(iter(lat.values())).threads, again


def time_near_ties(prepared: dict[str, nn.Module], ms: dict[str, float], example: torch.Tensor, batch_size: int,
                   repeats: int, warmup: int = 10, threads: int | None = None, block: int | Interleave | None = None,
                   near: float = NEAR_TIE, samples: dict[str, list[float]] | None = None,
                   reference: Sequence[str] = (), also: Sequence[str] = (),
                   turns: dict[str, list[float]] | None = None) -> list[str]:
    """:func:`fastest`'s second timing: those of ``prepared`` whose median ``ms`` is within ``near`` of the fastest
    (``reference`` left out), and those named in ``also`` whatever their first timing, timed again among themselves
    with twice the ``repeats``; their ``ms`` are replaced in place by this timing's round-paired medians
    (:func:`~torchshrink.measure.latency.paired_medians`: the drift each round shared taken out; the first timing is
    not pooled in: its long rounds of every runtime compare them less well, see :func:`fastest`). ``samples`` and
    ``turns``, when given, receive this timing's calls and each turn's median (seconds). Returns their names (the
    fastest alone: not timed again), the one to keep being ``min(close, key=ms.get)``.

    >>> import torch.nn as nn
    >>> models = {"a": nn.Linear(4, 2), "b": nn.Linear(4, 2), "big": nn.Sequential(*[nn.Linear(4, 4)] * 50)}
    >>> ms = {"a": 0.010, "b": 0.011, "big": 0.5}
    >>> sorted(time_near_ties(models, ms, torch.ones(1, 4), 1, repeats=3, warmup=1, block=1)), ms["big"]
    (['a', 'b'], 0.5)
    """
    top = min(v for k, v in ms.items() if k not in reference)
    close = [k for k in prepared if k not in reference and (ms[k] <= top * (1 + near) or k in also)]
    if len(close) > 1:
        group = {k: prepared[k] for k in close}
        rounds: dict[str, list[float]] = {} if turns is None else turns
        latency_many(group, example, batch_size, 2 * repeats, warmup, threads,
                     block=timing_block(group.values()) if block is None else block, real=True, samples=samples,
                     turns=rounds)
        ms.update(paired_medians({k: rounds[k] for k in close}))
    return close


def deploy(model: nn.Module, example: torch.Tensor, runtime: str = "auto", **kwargs: Any) -> tuple[nn.Module, RuntimeChoice]:
    """``model`` prepared for ``runtime``: a target (``"onnxruntime-int8/u8"``), ``"auto"`` (the fastest measured
    of every runtime that runs it), ``"auto-int8"`` (the fastest of the int8 ones) or a comma-separated list to
    choose among. Keywords as :func:`choose_runtime`.
    """
    if runtime in ("auto", "auto-int8"):
        return choose_runtime(model, example, int8=runtime == "auto-int8", **kwargs)
    names = [r.strip() for r in str(runtime).split(",") if r.strip()]
    for n in names:
        get_runtime(n)  # unknown names: one clear sentence
    ok, why = candidates_for(model, example, False, bool(kwargs.get("calibration")), names)
    if not ok:
        raise TorchshrinkError("; ".join(f"runtime {t} cannot run this model: {r}" for t, r in why.items()))
    return choose_runtime(model, example, candidates=names, **kwargs)


__all__ = ["RUNTIMES", "RuntimeChoice", "candidates_for", "choose_runtime", "deploy", "fastest", "time_near_ties"]
