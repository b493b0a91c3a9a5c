"""The step registry: what a recipe step is and what it declares about itself.

The runner and the recipe validator never test a step's name: each step says, where it is registered, what it
needs and how it runs. ``rank0``: its decisions come from timing or calibration, so under torchrun one process
runs it and the others load its model; ``makes_model``: its result is a new stage measured in the report
(evaluate/measure/export are not); ``needs_teacher``: it reads the recipe's trained teacher;
``after_quantize``: it may follow a step that ``quantizes`` (int8 models can only be evaluated, measured,
exported). A flag may be a function of the step's parsed settings (a compression family's flags are its
method's). This module imports nothing of the pipeline, so steps, the validator and the runner all build on it.

>>> from dataclasses import dataclass
>>> @dataclass
... class NoSettings:
...     pass
>>> @register_step("_doc_noop", NoSettings, makes_model=False)
... def noop(ctx, cfg):
...     return None
>>> STEPS.get("_doc_noop").makes_model, STEPS.get("_doc_noop").flag("rank0", NoSettings())
(False, False)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..config import from_dict
from ..registry import Registry

STEPS = Registry("pipeline step")

Flag = bool | Callable[[Any], bool]


@dataclass
class StepInfo:
    """A registered step: ``fn(ctx, settings) -> StepOutput``, its settings and its flags (module docstring).

    ``config``: the settings dataclass; ``parse(settings, problems)`` builds it from a recipe mapping (default:
    :func:`torchshrink.config.from_dict` of ``config``); ``requires``: modules (``module:attr``) it calls, for
    steps of optional packages (:meth:`missing`).
    """

    name: str
    fn: Callable[..., Any]
    config: type
    rank0: Flag = False
    makes_model: bool = True
    needs_teacher: Flag = False
    after_quantize: bool = False
    quantizes: Flag = False
    requires: tuple[str, ...] = ()
    parse_fn: Callable[[dict[str, Any], list[str]], Any] | None = None
    help: str = ""
    settings_of: tuple[type, ...] = ()

    def setting_names(self) -> list[str]:
        """Every setting name the step takes (for a family step: its methods' settings and ``method``)."""
        import dataclasses

        classes = self.settings_of or ((self.config,) if dataclasses.is_dataclass(self.config) else ())
        names = {f.name for c in classes for f in dataclasses.fields(c) if f.init}
        return sorted(names | ({"method"} if len(classes) > 1 else set()))

    def parse(self, settings: dict[str, Any], problems: list[str]) -> Any:
        """The step's settings object from a recipe mapping, appending problems (one line each)."""
        if self.parse_fn is not None:
            return self.parse_fn(settings, problems)
        return from_dict(self.config, settings, collect=problems)

    def flag(self, name: str, settings: Any) -> bool:
        """The value of flag ``name`` for these parsed settings."""
        value = getattr(self, name)
        return bool(value(settings)) if callable(value) else bool(value)

    def missing(self) -> str | None:
        """A sentence naming what this install lacks to run the step, or None."""
        for req in self.requires:
            mod, _, attr = req.partition(":")
            try:
                m = importlib.import_module(mod)
            except ImportError:
                return f"needs {mod}, which this version of torchshrink does not have yet"
            for a in filter(None, attr.split(",")):
                if not hasattr(m, a):
                    return f"needs {mod}.{a}, which this version of torchshrink does not have yet"
        return None


def register_step(name: str, config: type, *, rank0: Flag = False, makes_model: bool = True,
                  needs_teacher: Flag = False, after_quantize: bool = False, quantizes: Flag = False,
                  requires: tuple[str, ...] = (),
                  parse: Callable[[dict[str, Any], list[str]], Any] | None = None,
                  settings_of: tuple[type, ...] = ()) -> Callable:
    """Register ``fn(ctx: StepContext, cfg) -> StepOutput`` as recipe step ``name`` with settings ``config``."""

    def deco(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()
        STEPS.register(name)(StepInfo(name, fn, config, rank0, makes_model, needs_teacher, after_quantize, quantizes,
                                      tuple(requires), parse, doc[0] if doc else "", tuple(settings_of)))
        return fn

    return deco
