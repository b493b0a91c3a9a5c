"""Checks at the edge of the public API: the library validates like the CLI, one sentence per mistake.

Every public function that takes a model, a config, a shape, a name or a path calls the small checks
below first, so a mistake ends in a :class:`~torchshrink.errors.TorchshrinkError` (a ``ConfigError``,
``CheckpointError`` or ``OutputError``) that names the problem and the fix, not in a torch or Python
error from deep inside. The CLI calls the same functions, so both say the same thing.

>>> import torch.nn as nn
>>> check_input_shape(nn.Conv2d(3, 4, 3), (1, 32, 32))
Traceback (most recent call last):
...
torchshrink.errors.ConfigError: the model reads 3-channel images but input_shape gives 1 channels; pass input_shape (3, H, W) (one input's shape, without the batch)
>>> from torchshrink.data import DataConfig
>>> check_config(DataConfig(name="synthetic", batch_size=0), DataConfig)
Traceback (most recent call last):
...
torchshrink.errors.ConfigError: DataConfig.batch_size: must be >= 1, got 0
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

import torch
import torch.nn as nn

from .errors import ConfigError, OutputError, TorchshrinkError, TorchshrinkWarning

C = TypeVar("C")
INT8_MODULES = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized",
                "torch.ao.nn.qat", "torch.nn.qat", "torch.ao.nn.intrinsic.qat")


def check_module(model: Any, what: str = "model") -> nn.Module:
    """``model`` if it is an ``nn.Module``, else a :class:`ConfigError` saying what to pass.

    >>> check_module("resnet20")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: model: expected a torch.nn.Module, got the str 'resnet20'; build it with torchshrink.create_model('resnet20', ...) or load it with load_model(path)
    """
    if isinstance(model, nn.Module):
        return model
    hint = (f"build it with torchshrink.create_model({model!r}, ...) or load it with load_model(path)"
            if isinstance(model, (str, Path)) else "pass the model itself (an nn.Module)")
    raise ConfigError(f"{what}: expected a torch.nn.Module, got {_a(model)}; {hint}")


def check_name(name: Any, what: str = "model name", example: str = "'resnet20'") -> str:
    """``name`` if it is a non-empty string, else a :class:`ConfigError`.

    >>> check_name(None)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: model name: expected a name such as 'resnet20', got None
    """
    if isinstance(name, str) and name.strip():
        return name
    raise ConfigError(f"{what}: expected a name such as {example}, got {_a(name) if name is not None else 'None'}")


def check_config(cfg: Any, cls: type[C], what: str | None = None) -> C:
    """A validated ``cls`` from ``cfg``: an instance (its field types and ranges checked as the CLI checks them),
    a dict (parsed with :func:`torchshrink.config.from_dict`), or None (the defaults).

    >>> from torchshrink.data import DataConfig
    >>> check_config({"name": "synthetic", "batch_size": 8}, DataConfig).batch_size
    8
    >>> check_config(DataConfig(batch_size="8"), DataConfig)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: DataConfig.batch_size: expected an integer, got '8'
    """
    name = what or cls.__name__
    if cfg is None:
        cfg = {}
    if isinstance(cfg, dict):
        return _from_dict(cls, cfg, name)
    if not isinstance(cfg, cls):
        raise ConfigError(f"expected a {name} config, got {_a(cfg)}; pass {cls.__name__}(...)")
    if not dataclasses.is_dataclass(cfg):
        return cfg
    try:
        fields = dataclasses.asdict(cfg)
    except Exception:  # a field holding something that cannot be copied: check the top level only
        fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.init}
    init = {f.name for f in dataclasses.fields(cfg) if f.init}
    _from_dict(cls, {k: v for k, v in fields.items() if k in init}, name)  # types and ranges, as the CLI checks them
    return cfg


def check_types(cfg: Any, name: str | None = None) -> Any:
    """``cfg`` (a dataclass config) if every field holds a value of its declared type (nested configs too), else one
    :class:`ConfigError` listing them; ranges are left to the config's own ``validate()``.

    >>> from torchshrink.data import DataConfig
    >>> check_types(DataConfig(batch_size="8", augment="yes"))
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: DataConfig.batch_size: expected an integer, got '8'; DataConfig.augment: expected true or false, got 'yes'
    """
    import typing

    from .config import _convert

    name = name or type(cfg).__name__
    problems: list[str] = []

    def walk(obj: Any, prefix: str) -> None:
        try:
            hints = typing.get_type_hints(type(obj))
        except Exception:  # annotations that cannot be resolved: nothing to check against
            return
        for f in dataclasses.fields(obj):
            if not f.init or f.name not in hints:
                continue
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                walk(value, f"{prefix}{f.name}.")
            else:
                _convert(hints[f.name], value, f"{prefix}{f.name}", problems)

    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        walk(cfg, f"{name}.")
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg


def _from_dict(cls: type[C], data: dict, name: str) -> C:
    from .config import from_dict

    problems: list[str] = []
    obj = from_dict(cls, data, collect=problems)
    if problems:  # all of them, on one line (the CLI's from_dict prints one line each)
        raise ConfigError("; ".join(f"{name}.{p}" for p in problems))
    return obj


def _a(value: Any) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if isinstance(value, (str, int, float, Path)) and not isinstance(value, bool):
        return f"the {type(value).__name__} {shown}"
    return f"a {type(value).__name__}"


def check_output_file(path: Any, what: str = "path") -> Path:
    """``path`` as a Path if a file can be written there (not None, not a folder, not below a file, ...).

    >>> check_output_file(None, "save_model's path")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: save_model's path: expected a file path such as 'model.pt', got None
    """
    from .filesystem import output_problem

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ConfigError(f"{what}: expected a file path such as 'model.pt', got {_a(path) if path is not None else 'None'}")
    path = Path(path)
    problem = output_problem(path, what, "choose another path", folder=False)
    if problem:
        raise OutputError(problem)
    return path


def is_int8(model: nn.Module) -> bool:
    """Whether ``model`` already holds int8 (quantized or fake-quantized) layers.

    >>> is_int8(nn.Linear(2, 2))
    False
    """
    for m in model.modules():
        if type(m).__module__.startswith(INT8_MODULES) or "FakeQuantize" in type(m).__name__:
            return True
    return any(getattr(t, "is_quantized", False) for t in model.state_dict().values() if isinstance(t, torch.Tensor))


def check_float(model: nn.Module, verb: str) -> None:
    """Refuse, in one sentence, to ``verb`` a model that is already int8 (its layers no longer hold float weights)."""
    if is_int8(model):
        raise ConfigError(f"this model is already int8 (quantized); {verb} the float model it was quantized from (the "
                          "model file given to `torchshrink quantize`), then quantize the result")


def input_channels(model: nn.Module) -> int | None:
    """The channel count the model's first layer reads (its first Conv/Linear), or None if it has none."""
    for m in model.modules():
        if isinstance(getattr(m, "in_channels", None), int) and hasattr(m, "kernel_size"):
            return m.in_channels
        if isinstance(getattr(m, "in_features", None), int) and not any(True for _ in m.children()):
            return None  # a Linear first: its input is not an image
    return None


def check_shape(input_shape: Any, what: str = "input_shape") -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (one input's shape, e.g. (3, 32, 32)), or a :class:`ConfigError`."""
    ok = isinstance(input_shape, (tuple, list, torch.Size)) and len(input_shape) > 0 and all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_shape)
    if not ok:
        raise ConfigError(f"{what}: expected the shape of one input as positive integers, e.g. (3, 32, 32), got "
                          f"{input_shape!r}")
    return tuple(int(s) for s in input_shape)


def check_input_shape(model: nn.Module, input_shape: Any, what: str = "input_shape") -> tuple[int, ...]:
    """``input_shape`` as a tuple, checked against the model: right channel count, and the model runs on it.

    One forward pass at batch 1 in eval mode (the model's mode is restored); an int8 model runs as well.
    """
    shape = check_shape(input_shape, what)
    p = next(iter(model.parameters()), None)
    x = torch.zeros(1, *shape, device=p.device if p is not None else "cpu")
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception as e:  # the model's own error is the detail; the sentence says what to change
        c = input_channels(model)
        if c is not None and len(shape) == 3 and shape[0] != c:
            raise ConfigError(f"the model reads {c}-channel images but {what} gives {shape[0]} channels; pass {what} "
                              f"({c}, H, W) (one input's shape, without the batch)") from None
        if len(shape) == 4 and c is not None and shape[1] == c:
            raise ConfigError(f"{what} {shape} includes the batch dimension; pass one input's shape {shape[1:]}") from None
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ConfigError(f"the model does not run on {what} {shape} ({type(e).__name__}: {first}); pass the shape of "
                          "one input of the data it was built for, without the batch (e.g. (3, 32, 32))") from None
    finally:
        model.train(was)
    return shape


NO_SHAPE = object()  # check_model_input's default: the verb takes no input shape


def check_model_input(model: Any, verb: str, input_shape: Any = NO_SHAPE, float_only: bool = True) -> Any:
    """The checks at the top of a transform ``verb`` (prune, factorize, ...): ``model`` is a module, float (not int8)
    if ``float_only``, and, when the verb takes an ``input_shape``, one the model runs on; returns it as a tuple.

    >>> check_model_input(nn.Linear(4, 2), "prune", None)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: input_shape: expected the shape of one input as positive integers, e.g. (3, 32, 32), got None
    """
    check_module(model)
    if float_only:
        check_float(model, verb)
    return None if input_shape is NO_SHAPE else check_input_shape(model, input_shape)


def explain_shape(model: nn.Module, input_shape: Any, e: Exception, what: str = "input_shape") -> Exception:
    """The clear error for ``e``, raised while running ``model`` on ``input_shape`` (``e`` itself if the shape is fine)."""
    try:
        check_input_shape(model, input_shape, what)
    except ConfigError as clear:
        return clear
    return e


def check_same_channels(student: Any, teacher: Any) -> None:
    """Teacher and student must be modules that read images of the same channel count."""
    check_module(student, "student")
    check_module(teacher, "teacher")
    cs, ct = input_channels(student), input_channels(teacher)
    if cs is not None and ct is not None and cs != ct:
        raise ConfigError(f"the teacher reads {ct}-channel images but the student reads {cs}; build both for the same "
                          "data set (the same in_channels)")


def check_teacher_student(student: Any, teacher: Any) -> None:
    """Teacher and student must read the same images; a student larger than its teacher is warned about.

    A larger student is allowed (born-again and noisy-student training use one on purpose) but it does not
    compress, so :class:`TorchshrinkWarning` says so.
    """
    check_same_channels(student, teacher)
    ns = sum(p.numel() for p in student.parameters())
    nt = sum(p.numel() for p in teacher.parameters())
    if nt and ns > nt:
        warnings.warn(f"the student ({ns:,} parameters) is larger than its teacher ({nt:,}), so distilling it compresses "
                      "nothing; choose a smaller student (e.g. a lower width) unless you mean born-again or "
                      "noisy-student training", TorchshrinkWarning, stacklevel=3)


def check_count(value: Any, what: str, low: int = 1, fix: str = "") -> int:
    """``value`` as an int >= ``low``, else a :class:`ConfigError` (``fix`` is added after the problem).

    >>> check_count(0, "--nproc", fix="pass --nproc 1 (one process) or more")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: --nproc must be >= 1, got 0; pass --nproc 1 (one process) or more
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{what} must be >= {low}, got {value!r}" + (f"; {fix}" if fix else ""))
    return value


def check_distinct(folders: Iterable[Any], what: str = "run folder") -> list[Path]:
    """Paths that name different folders (after resolving links and '..'), else a :class:`TorchshrinkError`.

    >>> check_distinct(["runs/a", "runs/../runs/a"])
    Traceback (most recent call last):
    ...
    torchshrink.errors.TorchshrinkError: run folder 'runs/../runs/a' is the same as 'runs/a'; give each run once
    """
    seen: dict[Path, str] = {}
    out = []
    for f in folders:
        p = Path(f)
        key = Path(os.path.realpath(p))
        if key in seen:
            raise TorchshrinkError(f"{what} {str(f)!r} is the same as {seen[key]!r}; give each run once")
        seen[key] = str(f)
        out.append(p)
    return out


def check_example_batch(x: Any, what: str = "example input") -> torch.Tensor:
    """A tensor batch ``x`` (the inputs of a loader's first batch), else a :class:`ConfigError`."""
    if isinstance(x, (tuple, list)) and x:
        x = x[0]
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{what}: expected a batch of tensors (or (inputs, labels) pairs), got {_a(x)}")
    return x


def shapes_of(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def check_options(fn: Any, options: dict[str, Any], what: str, skip: Sequence[str] = ("self", "student", "teacher",
                                                                                       "input_shape")) -> dict[str, Any]:
    """``options`` for ``fn`` (a class or function taking them as keyword arguments), names and values checked:
    every name must be one of ``fn``'s parameters, each value of its annotated type; a ``temperature`` must be
    positive and a ``*_weight`` not negative.

    >>> from torchshrink.distill import KD
    >>> check_options(KD, {"tempertaure": 2}, "distiller 'kd'")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: distiller 'kd' has no option 'tempertaure' (did you mean 'temperature'?); its options: temperature, kd_weight, ce_weight, standardized
    """
    import inspect
    import math
    import typing

    from .config import _convert
    from .errors import suggest

    target = fn.__init__ if inspect.isclass(fn) else fn
    params = {n: p for n, p in inspect.signature(target).parameters.items()
              if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations that cannot be resolved: names are still checked
        hints = {}
    problems = []
    for key, value in options.items():
        if key not in params:
            problems.append(f"{what} has no option {key!r}{suggest(str(key), params)}; its options: "
                            f"{', '.join(params) or 'none'}")
            continue
        tp = hints.get(key, typing.Any)
        found: list[str] = []
        _convert(tp, value, f"{what} option {key}", found)
        problems += found
        if found or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key == "temperature" and not (math.isfinite(value) and value > 0):
            problems.append(f"{what} option temperature: must be a positive number (the softmax divides by it), got "
                            f"{value!r}; the usual value is 4")
        elif key.endswith("_weight") and not (math.isfinite(value) and value >= 0):
            problems.append(f"{what} option {key}: must be >= 0, got {value!r}")
    if problems:
        raise ConfigError("\n".join(problems))
    return options


def check_temperature(t: Any) -> float:
    """A softmax temperature: a finite number > 0 (at 0 the softened logits divide by zero).

    >>> check_temperature(0)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: temperature: must be a positive number (the softmax divides by it), got 0; the usual value is 4
    """
    import math

    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
        raise ConfigError(f"temperature: must be a positive number (the softmax divides by it), got {t!r}; the usual "
                          "value is 4")
    return float(t)


def check_data_channels(model: nn.Module, input_shape: Sequence[int], data_name: str, what: str = "the model") -> None:
    """Refuse a data set whose images have another channel count than the model's first convolution reads.

    >>> check_data_channels(nn.Conv2d(3, 4, 3), (1, 28, 28), "fashion_mnist")
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: the model takes 3 input channels but data set 'fashion_mnist' has 1; use the data set the model was trained on (--data)
    """
    c = input_channels(model)
    if c is not None and tuple(input_shape)[0] != c:
        raise ConfigError(f"{what} takes {c} input channels but data set {data_name!r} has {input_shape[0]}; "
                          f"use the data set {what} was trained on (--data)")


def explain_batch(model: nn.Module, x: Any, y: Any, e: Exception) -> TorchshrinkError | None:
    """The one-sentence reason a batch failed in ``model`` (other channels, labels beyond its classes), or None.

    Called only after the first batch of a training or evaluation raised ``e``, so the happy path costs nothing.

    >>> err = explain_batch(nn.Conv2d(3, 4, 3), torch.zeros(2, 1, 8, 8), None, RuntimeError("channels"))
    >>> str(err)
    "the model reads 3-channel images but the data's images have 1 channels; use the data set the model was built for (or build it with in_channels=1)"
    """
    c = input_channels(model)
    if c is not None and isinstance(x, torch.Tensor) and x.dim() >= 3 and x.shape[1] != c:
        return ConfigError(f"the model reads {c}-channel images but the data's images have {x.shape[1]} channels; use "
                           f"the data set the model was built for (or build it with in_channels={x.shape[1]})")
    if isinstance(y, torch.Tensor) and y.numel() and "out of bounds" in str(e):
        k = num_classes(getattr(model, "student", model))
        predicts = f"predicts {k} classes" if k else "predicts fewer classes"
        return ConfigError(f"the data has labels up to {int(y.max())} but the model {predicts}; build it with "
                           f"num_classes={int(y.max()) + 1}, or use the data set it was trained on")
    return None


def check_threads(n: Any, what: str = "--threads") -> int:
    """A CPU thread count: None or 0 (torch's choice) or a positive integer; returns it (0 for None).

    >>> check_threads(-1)
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: --threads must be >= 0 (0 = torch's choice), got -1
    """
    if n is None:
        return 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"{what} must be >= 0 (0 = torch's choice), got {n!r}")
    return n


VERBS = {"transfer": "transfer the filters of"}  # a method family -> the verb of "this model is already int8; ..."


def check_example(model: nn.Module, example: Any) -> None:
    """``model`` must run on ``example`` (a :class:`torchshrink.inputs.Example`), once, in eval mode and without
    gradients (its mode is restored); a channel count it does not read is said as such.

    >>> from torchshrink.inputs import as_example
    >>> check_example(nn.Conv2d(3, 4, 3), as_example((1, 8, 8)))
    Traceback (most recent call last):
    ...
    torchshrink.errors.ConfigError: the model reads 3-channel images but the example inputs have 1 channels (one input's shape (1, 8, 8)); pass inputs of shape (3, H, W), or use the data set the model was built for
    """
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            example.run(model)
    except Exception as e:
        c, t = input_channels(model), example.first
        if c is not None and t.dim() == 5 and t.shape[1] == 1 and t.shape[2] == c:
            raise ConfigError(f"the example inputs' shape {tuple(t.shape[1:])} includes the batch dimension; pass one "
                              f"input's shape {tuple(t.shape[2:])}") from None
        if c is not None and example.is_image and t.shape[1] != c:
            raise ConfigError(f"the model reads {c}-channel images but the example inputs have {t.shape[1]} channels "
                              f"(one input's shape {tuple(t.shape[1:])}); pass inputs of shape ({c}, H, W), or use the "
                              "data set the model was built for") from None
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ConfigError(f"the model does not run on the example inputs {example.describe()} ({type(e).__name__}: "
                          f"{first}); pass a batch of the data it was built for") from None
    finally:
        model.train(was)


def num_classes(model: nn.Module) -> int | None:
    """How many classes ``model`` predicts, read without running it (build record or classifier); None if unknown."""
    arch = getattr(model, "torchshrink_arch", None) or {}
    if isinstance(arch.get("num_classes"), int):
        return arch["num_classes"]
    head = getattr(model, getattr(model, "classifier_name", None) or "fc", None)
    return head.out_features if isinstance(head, nn.Linear) else None
