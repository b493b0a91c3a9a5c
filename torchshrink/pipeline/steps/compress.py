"""The compression steps: one recipe step per method family, each running a method of ``compress_``.

``prune``, ``quantize``, ``factorize``, ``structure``, ``transfer`` and ``distill`` take ``method:`` (in families
with several: ``prune: {method: unstructured, sparsity: 0.9}``, ``quantize: {method: qat}``) and that method's
config settings, the same names the CLI's flags set (``torchshrink prune --sparsity 0.9`` is
``prune: {method: unstructured, sparsity: 0.9}``). A method's ``recover:`` settings fine-tune the result,
distilling from the model as it was before the step when ``recover.distiller`` names a method. The step's flags
(needs a teacher, quantizes) are its method's; methods whose decisions come from timing or calibration run on
rank 0 under torchrun, and their recovery trains in every process.

>>> from torchshrink.pipeline.registry import STEPS
>>> cfg = STEPS.get("prune").parse({"method": "unstructured", "sparsity": 0.8}, problems := [])
>>> type(cfg).__name__, cfg.sparsity, problems
('MagnitudeConfig', 0.8, [])
>>> _ = STEPS.get("quantize").parse({"method": "int4"}, problems := [])
>>> problems[0].split(";")[0]
"method: unknown quantize method 'int4'"
"""
from __future__ import annotations

from typing import Any, Callable

from ...compress import METHODS, MethodInfo, Report, apply, prepare, recover_after
from ...config import from_dict
from ...engine import procs
from ...errors import suggest
from ..registry import STEPS, register_step
from .base import StepContext, StepOutput

# family -> its default method (families with one method ignore it)
FAMILIES = {"prune": "structured", "quantize": "ptq", "factorize": "factorize", "structure": "structure",
            "transfer": "filters", "distill": "distill"}


def method_of(family: str, settings: dict[str, Any]) -> tuple[MethodInfo | None, dict[str, Any], str | None]:
    """(method, the settings without ``method``, a problem) of a family step's settings."""
    methods = METHODS.family(family)
    if len(methods) == 1:  # the method's own config may have a 'method' setting (distill: the distiller)
        return next(iter(methods.values())), dict(settings), None
    rest = dict(settings)
    if "kind" in rest and "method" not in rest:
        return None, rest, f"kind: this setting is now called 'method'; write method: {rest['kind']!r}"
    name = rest.pop("method", FAMILIES[family])
    if name not in methods:
        return None, rest, (f"method: unknown {family} method {name!r}{suggest(str(name), methods)}; valid: "
                            f"{', '.join(sorted(methods))}")
    return methods[name], rest, None


def _parser(family: str) -> Callable[[dict[str, Any], list[str]], Any]:
    def parse(settings: dict[str, Any], problems: list[str]) -> Any:
        info, rest, problem = method_of(family, settings)
        if info is None:
            problems.append(problem or "")
            return None
        return from_dict(info.config, rest, collect=problems)
    return parse


def _layers(report: Report) -> list[dict[str, Any]]:
    """Per-layer facts for the report's plots: the kept layers' scalar details (rank = the smallest rank)."""
    out = []
    for l in report.kept:
        fact: dict[str, Any] = {"layer": l.name, "method": l.method}
        fact.update({k: v for k, v in l.detail.items() if isinstance(v, (int, float, str))})
        if isinstance(l.detail.get("ranks"), list) and l.detail["ranks"]:
            fact["rank"] = min(l.detail["ranks"])
        out.append(fact)
    return out


def output_of(report: Report, info: MethodInfo) -> StepOutput:
    """The step's output from a method's report (the per-layer table and the report itself go to metrics)."""
    times = [r["epoch_time_s"] for r in report.history if "epoch_time_s" in r]
    notes = list(report.notes) + [report.summary()]
    skipped = [l for l in report.skipped if l.reason.startswith("not faster")]
    if skipped:
        notes.append(f"{len(skipped)} layers skipped as not faster when measured (e.g. {skipped[0].name}: "
                     f"{skipped[0].reason})")
    return StepOutput(model=report.model, history=report.history, layers=_layers(report), notes=notes,
                      size_bytes=report.size_bytes, macs=report.macs_after if info.quantized else None,
                      train_time_per_epoch_s=sum(times) / len(times) if times else None,
                      metrics={info.family: report.to_dict()})


def run_method(ctx: StepContext, cfg: Any) -> StepOutput:
    """Apply the method ``cfg`` configures to the current model, then recover as its ``recover`` settings say."""
    info, mctx = prepare(ctx.model, cfg, ctx.example, ctx.loaders, teacher=ctx.teacher if
                         METHODS.for_config(cfg).needs_teacher else None, out=ctx.out, progress=ctx.progress,
                         verbose=True, device=ctx.device, seed=ctx.seed, engine=ctx.engine)
    if info.rank0:  # timing/calibration decisions: rank 0 makes them, every process gets its model
        def build() -> tuple[Report, Any]:
            r = apply(info, ctx.model, cfg, mctx)
            model, r.model = r.model, None
            return r, model

        report, model = procs.from_main(build)
        report.model = model
    else:
        report = apply(info, ctx.model, cfg, mctx)
    report = recover_after(info, report, cfg, mctx)
    for line in report.notes + [report.summary()]:
        print(f"[{ctx.label}] {line}", flush=True)
    for what, path in report.files.items():
        print(f"[{ctx.label}] {what} file: {path}", flush=True)
    return output_of(report, info)


for _family in FAMILIES:
    _methods = METHODS.family(_family)
    register_step(_family, object, needs_teacher=lambda cfg: METHODS.for_config(cfg).needs_teacher,
                  quantizes=lambda cfg: METHODS.for_config(cfg).quantized, parse=_parser(_family),
                  settings_of=tuple(i.config for i in _methods.values()))(run_method)
    STEPS.get(_family).help = (f"{_family} the model ({', '.join(sorted(_methods))})" if len(_methods) > 1 else
                               next(iter(_methods.values())).help)
