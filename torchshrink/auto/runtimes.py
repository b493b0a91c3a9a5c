"""Where a candidate runs when it is measured: one more dimension of a candidate (its recipe, then its runtime).

``eager`` is PyTorch as the recipe leaves the model (float modules, or torch.ao's int8 modules after a
``quantize`` step). When :mod:`torchshrink.deploy` is installed, every target it registers
(``onnxruntime``, ``onnxruntime-int8/u8``, ``channels-last``, ...) is a runtime here too: the candidate's model
is prepared for it with the deploy runtime's ``prepare`` and timed, sized and evaluated as it runs there.

>>> RUNTIMES.problem("eager") is None, RUNTIMES.prepare("eager", "model", None, None)
(True, 'model')
>>> RUNTIMES.problem("warp-drive").split(";")[0]
"unknown runtime 'warp-drive'"
>>> default_runtimes()[0]
'eager'
"""
from __future__ import annotations

from typing import Any, Sequence


def _deploy() -> Any:
    try:
        from .. import deploy
    except ImportError:
        return None
    return deploy if hasattr(deploy, "get_runtime") else None


class _Runtimes:
    """The runtimes a candidate can be measured in (see the module)."""

    def names(self) -> list[str]:
        d = _deploy()
        return ["eager"] + ([t for t in d.all_targets() if t != "eager"] if d is not None else [])

    def problem(self, name: str) -> str | None:
        """Why ``name`` cannot be used here, or None."""
        if name == "eager":
            return None
        d = _deploy()
        if d is None:
            return (f"unknown runtime {name!r}; this install measures candidates in PyTorch only (eager); "
                    "int8 kernels are the int8 family's candidates")
        try:
            rt, kernel = d.get_runtime(name)
        except Exception as e:  # the deploy registry's own sentence
            return str(e)
        missing = rt.missing()
        return f"runtime {name!r} {missing}" if missing else None

    def prepare(self, name: str, model: Any, example: Any, calibration: Sequence[Any] | None) -> Any:
        """``model`` ready to run in runtime ``name`` (the model itself for eager)."""
        if name == "eager":
            return model
        d = _deploy()
        rt, kernel = d.get_runtime(name)
        return rt.prepare(model, example, kernel, calibration)

    def quantizes(self, name: str) -> bool:
        """Whether runtime ``name`` turns a float model into an int8 one itself."""
        if name == "eager":
            return False
        d = _deploy()
        return bool(d is not None and d.get_runtime(name)[0].quantizes)


RUNTIMES = _Runtimes()

# What a search measures every float candidate in by default: PyTorch, and ONNX Runtime float and int8 (the runtimes
# that ran the benchmarks' models fastest at batch 1 on 2-core CPUs, bench/results/deploy.md). torch.compile is left
# out (minutes to prepare each candidate, 0.85-1.3x eager's speed at batch 1 there, far behind ONNX Runtime); name
# it in ``runtimes`` to add it.
DEFAULT = ("eager", "onnxruntime", "onnxruntime-int8/u8", "onnxruntime-int8/s8", "onnxruntime-int8/torch")


def default_runtimes() -> list[str]:
    """:data:`DEFAULT`'s runtimes that this install can run (eager alone without onnxruntime)."""
    return [r for r in DEFAULT if RUNTIMES.problem(r) is None]
