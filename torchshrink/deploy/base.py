"""What a runtime is: a registered :class:`Runtime` that prepares a model to run in it, and the model it returns.

A *target* names a runtime and, where it has several, a kernel library: ``"eager"``, ``"torch-int8/onednn"``,
``"onnxruntime-int8/u8"``. ``runtime.prepare(model, example, kernel, calibration)`` converts, exports or quantizes
the model for that runtime and returns an ``nn.Module`` that runs there: call it with a batch, time it with
:func:`torchshrink.measure.latency_many`, evaluate it with :func:`torchshrink.evaluate`, save it with
``save_model`` (the file records the runtime, and ``load_model`` brings the model back running in it).
:func:`runtime_of` names the target a model runs in (``"eager"`` for an ordinary model).

>>> import torch.nn as nn
>>> split_target("torch-int8/x86"), target("onnxruntime"), runtime_of(nn.Linear(2, 2))
(('torch-int8', 'x86'), 'onnxruntime', 'eager')
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..models.files import MODEL_TRANSFORMS, record_transform
from ..registry import Registry
from ..measure.latency import Interleave
from ..measure.latency import batch_of  # noqa: F401  (re-exported: deploy code builds timing batches with it)

RUNTIMES = Registry("runtime")


def target(runtime: str, kernel: str = "") -> str:
    """``"runtime/kernel"`` (just ``"runtime"`` when it has one kernel)."""
    return f"{runtime}/{kernel}" if kernel else runtime


def split_target(name: str) -> tuple[str, str]:
    """``"torch-int8/x86"`` -> ``("torch-int8", "x86")``; ``"eager"`` -> ``("eager", "")``."""
    runtime, _, kernel = str(name).partition("/")
    return runtime, kernel


class Runtime:
    """One place a model can run. Subclasses set the class attributes and implement :meth:`prepare`.

    ``kernels``: the kernel libraries it can use (``("",)``: one); ``quantizes``: it turns a float model into
    an int8 one (needs calibration batches, and its accuracy must be checked); ``artifact``: what
    :func:`~torchshrink.deploy.artifact.write_artifact` writes for it (``"torchshrink"`` model file or ``"onnx"``).
    """

    name = ""
    kernels: tuple[str, ...] = ("",)
    quantizes = False
    artifact = "torchshrink"
    about = ""
    float_only = False  # it runs float models only (an int8 model already runs elsewhere)

    def missing(self) -> str | None:
        """What this install lacks to run it (a package, a kernel library), or None."""
        return None

    def kernel_missing(self, kernel: str) -> str | None:
        """What this install lacks for ``kernel``, or None."""
        if kernel not in self.kernels:
            return f"runtime {self.name!r} has no kernel {kernel!r}; its kernels: {', '.join(k for k in self.kernels if k)}"
        return None

    def refuses(self, model: nn.Module, example: torch.Tensor, kernel: str = "") -> str | None:
        """Why this runtime (with ``kernel``) cannot run ``model`` on inputs like ``example``, or None (by default:
        a model already deployed elsewhere, and an int8 model for a ``float_only`` runtime)."""
        if isinstance(model, Deployed) or (self.float_only and is_quantized(model)):
            return "the model already runs in another runtime"
        return None

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        """A module that runs ``model`` in this runtime (``model`` itself is left unchanged)."""
        raise NotImplementedError

    def restore(self, model: nn.Module, kernel: str = "", **config: Any) -> nn.Module:
        """Rebuild the module :meth:`prepare` made, around ``model``, for ``load_model`` (weights come after)."""
        raise NotImplementedError(f"runtime {self.name!r} does not record itself in model files")

    def snippet(self, path: str, example: torch.Tensor) -> str:
        """A one-line Python command that loads the artifact at ``path`` and runs it on a batch like ``example``."""
        shape = ", ".join(str(s) for s in (1, *example.shape[1:]))
        make = (f"torch.zeros({shape}, dtype=torch.{str(example.dtype).split('.')[-1]})")
        return (f"python -c \"import torch, torchshrink as ts; m = ts.load_model('{path}').eval(); "
                f"print(m({make}).argmax(1))\"")


class WrapperRuntime(Runtime):
    """A runtime that runs a float PyTorch model inside ``wrapper`` (a :class:`Deployed` subclass taking the model)."""

    float_only = True
    wrapper: type | None = None

    def prepare(self, model: nn.Module, example: torch.Tensor, kernel: str = "",
                calibration: Sequence[torch.Tensor] | None = None, **options: Any) -> nn.Module:
        import copy

        return record_runtime(self.wrapper(copy.deepcopy(model).eval()), model, self.name)

    def restore(self, model: nn.Module, kernel: str = "", **config: Any) -> nn.Module:
        return self.wrapper(model)


def register_runtime(cls: type[Runtime]) -> type[Runtime]:
    """Class decorator: register one instance of ``cls`` in :data:`RUNTIMES` under ``cls.name``."""
    RUNTIMES.register(cls.name)(cls())
    return cls


def get_runtime(name: str) -> tuple[Runtime, str]:
    """The registered runtime and the kernel a target names; an unknown runtime or kernel is one clear sentence.

    >>> get_runtime("torch-int8/x86")[1]
    'x86'
    """
    runtime, kernel = split_target(name)
    if runtime not in RUNTIMES:
        from ..errors import suggest

        raise ConfigError(f"unknown runtime {runtime!r}{suggest(runtime, RUNTIMES)}; valid runtimes: "
                          f"{', '.join(all_targets())} (or auto)")
    rt = RUNTIMES.get(runtime)
    if not kernel and rt.kernels != ("",):
        kernel = rt.kernels[0]
    problem = rt.kernel_missing(kernel)
    if problem:
        raise ConfigError(problem)
    return rt, kernel


def all_targets() -> list[str]:
    """Every registered runtime/kernel pair, in registration order of the kernels."""
    return [target(n, k) for n in RUNTIMES for k in RUNTIMES.get(n).kernels]


class Deployed(nn.Module):
    """A model wrapped to run in a runtime other than PyTorch eager, for inference; call it like the model.

    ``train()``/``eval()`` leave the model inside in eval mode (every evaluating loop calls them). Subclasses keep
    what :func:`record_runtime` needs to rebuild them from a model file; ``thread_pool`` names whose threads run it
    (PyTorch's, or ONNX Runtime's: interleaved timing warms a pool up after a switch, :func:`timing_block`).
    """

    thread_pool = "torch"

    def train(self, mode: bool = True) -> "Deployed":
        self.training = mode
        for m in self.children():
            m.eval()
        return self

    def counts(self) -> dict[str, int | None] | None:
        """Parameters, non-zero parameters and MACs of the model inside, where the generic counters cannot see
        them (an ONNX model's weights live in its bytes); None: count the module as usual."""
        return None

    def artifact_bytes(self) -> int | None:
        """Bytes of the file :func:`~torchshrink.deploy.artifact.write_artifact` writes, where known."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for k in [k for k in state if k.startswith("_live_")]:  # sessions and compiled graphs are rebuilt on use
            state[k] = None
        return state


def record_runtime(deployed: nn.Module, source: nn.Module, runtime: str, kernel: str = "", **config: Any) -> nn.Module:
    """Tag ``deployed`` with its target, and (for models built by ``create_model``) record it for ``load_model``."""
    deployed.torchshrink_runtime = target(runtime, kernel)
    arch = getattr(source, "torchshrink_arch", None)
    if arch is not None and deployed is not source:
        deployed.torchshrink_arch = dict(arch)
        deployed.torchshrink_transforms = list(getattr(source, "torchshrink_transforms", []))
        record_transform(deployed, "runtime", runtime=runtime, kernel=kernel, **config)
    return deployed


@MODEL_TRANSFORMS.register("runtime")
def _replay_runtime(model: nn.Module, runtime: str, kernel: str = "", **config: Any) -> nn.Module:
    """Rebuild a deployed model's wrapper around the model rebuilt so far (its weights are loaded after)."""
    rt = RUNTIMES.get(runtime)  # the package's __init__ registered the built-in runtimes
    out = rt.restore(model, kernel, **config)
    out.torchshrink_runtime = target(runtime, kernel)
    return out


def is_quantized(model: nn.Module) -> bool:
    """True when ``model`` holds torch.ao int8 modules (static or dynamic)."""
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def runtime_of(model: nn.Module) -> str:
    """The target ``model`` runs in: its recorded runtime, ``torch-int8/<engine>`` for a torch.ao int8 model,
    ``compile`` for a ``torch.compile``'d module, else ``"eager"`` (PyTorch eager, the model as it is)."""
    tag = getattr(model, "torchshrink_runtime", None)
    if tag:
        return str(tag)
    if type(model).__name__ == "InferenceGraph":  # torchshrink.quant.ptq's PT2E int8 graph, compiled by Inductor
        return "compile-int8 (pt2e)"
    if type(model).__name__ == "OptimizedModule":  # torch.compile(model) made outside torchshrink.deploy
        return "compile"
    for t in reversed(getattr(model, "torchshrink_transforms", [])):
        if t.get("name") == "ptq_fx":
            return target("torch-int8", str(t.get("config", {}).get("engine", "")))
    if is_quantized(model):
        return "torch-int8"
    return "eager"


def timing_block(models: Iterable[nn.Module]) -> Interleave:
    """How an interleaved timing takes turns among ``models`` (:class:`~torchshrink.measure.latency.Interleave`):
    when they run in more than one thread pool (PyTorch's, ONNX Runtime's: each ONNX Runtime session has its own),
    each model's turn starts after a 10 ms sleep and once the process's other threads are idle (up to 250 ms
    more), its first 2 calls (and at least 5 ms of calls) untimed, then 4 calls (and at least 10 ms) timed, in a
    new order each round: the previous pool's threads spin-wait after its last call (ONNX Runtime's for 40-50 ms
    on a 2-core VM) and would share the cores with the next runtime's calls, and the first calls after a sleep are
    slower and noisier than the model running steadily. Else one call per turn, in a fixed order.

    >>> timing_block([nn.Linear(2, 2), nn.ReLU()])
    Interleave(block=1, untimed=0, settle=0.0, shuffle=False, warm_s=0.0, timed_s=0.0, idle_wait=0.0)
    """
    pools = {getattr(m, "thread_pool", "torch") for m in models}
    if len(pools) == 1:
        return Interleave()
    return Interleave(block=6, untimed=2, settle=0.01, shuffle=True, warm_s=0.005, timed_s=0.01, idle_wait=0.25)
