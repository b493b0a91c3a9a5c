"""The bad-input catalogue: user mistakes across the CLI and the library, each ending in one clear sentence.

Every case is one mistake a user can make. A CLI case must exit with status 2 and print exactly one line
``torchshrink: error: ...`` (no traceback); a library case must raise :class:`TorchshrinkError` with a
one-line message. Either way the message must match the case's pattern, which names the problem *and* the
fix. ``docs/bad_inputs.md`` lists every case (input, message, test); regenerate it with
``.venv/bin/python tests/reliability/test_bad_inputs.py > docs/bad_inputs.md``.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
SYN = ["--data", "synthetic", "--no-progress", "--epochs", "1", "--set", "model.kwargs.width=0.25"]


@dataclass
class Case:
    id: str
    what: str                       # the mistake, in words
    make: Callable[[Path], Any]     # tmp folder -> argv list (CLI) or a zero-argument callable (library)
    expect: str                     # regex the message must match: the problem and the fix


def cli(*argv: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [a.replace("{tmp}", str(tmp)) for a in argv]


def train(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["train", "--model", "resnet8", *SYN, "--out", str(tmp / "run"), *extra]


def recipe(data: dict) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(data))
        return ["run", str(tmp / "recipe.yaml"), "--dry-run", "--out", str(tmp / "r")]
    return make


def lib(fn: Callable[[Path], Any]) -> Callable[[Path], Callable[[], Any]]:
    return lambda tmp: (lambda: fn(tmp))


class Warned:
    """A library call that must warn (TorchshrinkWarning) instead of failing: allowed, but probably not meant."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __call__(self) -> Any:
        return self.fn()


def warns(fn: Callable[[Path], Any]) -> Callable[[Path], Warned]:
    return lambda tmp: Warned(lambda: fn(tmp))


@dataclass
class Shell:
    """A CLI mistake that needs its own process (e.g. inside a private read-only mount): ``argv`` runs as is."""

    argv: list[str]
    shown: str


HOLDERS: list[Any] = []  # processes a case started (e.g. one holding a run folder's lock), stopped after the case


def _model_file(tmp: Path, **kw: Any) -> str:
    from torchshrink.models import create_model, save_model

    save_model(create_model("resnet8", **{"num_classes": 4, "in_channels": 1, "width": 0.25, **kw}), tmp / "m.pt")
    return str(tmp / "m.pt")


def _write(tmp: Path, name: str, data: bytes | str) -> str:
    p = tmp / name
    p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
    return str(p)


def _another_run(tmp: Path) -> list[str]:
    (tmp / "run").mkdir()
    (tmp / "run" / "config.yaml").write_text("model: {name: vgg8}\n")
    (tmp / "run" / "metrics.json").write_text("{}\n")
    return ["train", "--model", "resnet8", *SYN, "--out", str(tmp / "run")]


def _finished_run(tmp: Path) -> str:
    """A folder that load_run accepts (what a finished `torchshrink run` leaves, minus the models)."""
    import json

    m = {"name": "base", "params": 100, "nonzero_params": 100, "bytes_memory": 400, "size_bytes": 400, "macs": 1000,
         "latency_ms_b1": 1.0, "latency_ms_bn": 5.0, "batch_size": 8, "threads": 1, "top1": 90.0}
    (tmp / "r1").mkdir(exist_ok=True)
    (tmp / "r1" / "stages.json").write_text(json.dumps({"name": "r1", "batch_size": 8, "stages": [
        {"label": "base", "step": "train", "measurement": m, "metrics": {}}]}))
    return str(tmp / "r1")


def _earlier_compare(tmp: Path) -> list[str]:
    (tmp / "cmp").mkdir()
    (tmp / "cmp" / "compare.md").write_text("# an earlier comparison\n")
    return ["compare", _finished_run(tmp), "--out", str(tmp / "cmp")]


def _earlier_quantize(tmp: Path) -> list[str]:
    (tmp / "q").mkdir()
    (tmp / "q" / "config.yaml").write_text("quantize: {method: qat}\n")
    (tmp / "q" / "model.pt").write_bytes(b"an earlier quantized model")
    return ["quantize", _model_file(tmp), "--data", "synthetic", "--out", str(tmp / "q"), "--no-progress"]


def _export_over(tmp: Path) -> list[str]:
    _write(tmp, "shipped.pt", b"a model shipped earlier")
    argv = recipe({**BASE_RECIPE, "steps": [{"export": {"path": str(tmp / "shipped.pt")}}]})(tmp)
    return [a for a in argv if a != "--dry-run"] + ["--no-progress"]


def _fit_empty(tmp: Path):
    from torchshrink.data import InMemoryLoader, make_synthetic
    from torchshrink.engine import fit
    from torchshrink.models import create_model

    ds = make_synthetic(8).subset(torch.arange(0))
    return fit(create_model("resnet8", num_classes=4, in_channels=1, width=0.25), InMemoryLoader(ds, 4), progress=False)


def _distill(method: str, t_classes: int = 4, **kw: Any):
    from torchshrink.distill import make_distiller
    from torchshrink.models import create_model

    t = create_model("resnet8", num_classes=t_classes, in_channels=1, width=0.5)
    s = create_model("resnet8", num_classes=4, in_channels=1, width=0.25)
    return make_distiller(method, s, t, (1, 16, 16), **kw)


def _distill_plain(s_classes: int, t_classes: int):
    """KD between two models that record nothing about their classes: the first batch's logits are compared."""
    from torchshrink.distill import KD

    plain = lambda k: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 8), torch.nn.ReLU(), torch.nn.Linear(8, k))  # noqa: E731
    s, t = plain(s_classes), plain(t_classes)
    s[3], t[3] = torch.nn.Sequential(s[3]), torch.nn.Sequential(t[3])  # no readable classifier
    return KD(s, t).forward_train(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.long))


class _Padded(torch.nn.Module):
    """A conv with circular padding (int8 convolutions pad with zeros only)."""

    def __init__(self, conv: str = "circular") -> None:
        super().__init__()
        self.c = {"circular": lambda: torch.nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"),
                  "transpose": lambda: torch.nn.ConvTranspose2d(1, 4, 3), "plain": lambda: torch.nn.Conv2d(1, 4, 3)}[conv]()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.c(x).mean((2, 3)))


class _Branchy(_Padded):
    """A forward that branches on a tensor value: FX cannot trace it."""

    def forward(self, x):
        x = self.fc(x.mean((1, 2, 3))[:, None].expand(-1, 4))
        return x * 2 if x.mean() > 0 else x


class _Embeds(_Padded):
    """An embedding lookup by integer indices: no static int8 kernel takes integer inputs."""

    def __init__(self) -> None:
        super().__init__("plain")
        self.e = torch.nn.Embedding(10, 4)

    def forward(self, x):
        return self.fc(self.e((x.abs() * 3).long().clamp(0, 9)).mean((1, 2, 3)))


def _ptq(model: torch.nn.Module, **kw: Any):
    from torchshrink.quant import PTQConfig, quantize_ptq

    return quantize_ptq(model.eval(), [torch.randn(4, 1, 16, 16)], PTQConfig(observer="minmax", **kw))


def _prune(model: str = "resnet8", **kw: Any):
    from torchshrink.models import create_model
    from torchshrink.prune.structured import StructuredConfig, prune_

    width = 0.5 if model == "shufflenetv2" else 0.25
    return prune_(create_model(model, num_classes=4, in_channels=1, width=width), StructuredConfig(**kw), (1, 16, 16))


def _deploy_loses_accuracy(tmp: Path):
    from torchshrink.deploy import deploy

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(8 * 16 * 16, 10)).eval()
    x = torch.randn(64, 1, 16, 16)
    with torch.no_grad():
        val = [(x, m(x).argmax(1))]  # labelled by the model itself: its own top-1 is 100%
    return deploy(m, x, "torch-int8/x86", calibration=[x * 1e-3], val=val, max_top1_drop=1.0)


def _magnitude_empties_a_layer(tmp: Path):
    from torchshrink.models import create_model
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_

    m = create_model("resnet8", num_classes=4, in_channels=1, width=0.25)
    with torch.no_grad():
        m.layer1[0].conv1.weight.mul_(1e-4)  # a layer of tiny weights: global ranking takes all of it
    return magnitude_prune_(m, MagnitudeConfig(sparsity=0.9))


def _from_dict(cls_path: str, data: dict):
    import importlib

    from torchshrink.config import from_dict

    mod, name = cls_path.rsplit(".", 1)
    return from_dict(getattr(importlib.import_module(mod), name), data)


def _unshare_ok() -> bool:
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("unshare"):
        return False
    d = tempfile.mkdtemp()
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {d}"],
                              capture_output=True).returncode == 0
    finally:
        os.rmdir(d)


def _read_only_out(tmp: Path) -> Shell:
    """`torchshrink train --out` inside a folder mounted read-only (a private mount namespace, gone afterwards)."""
    ro = tmp / "ro"
    ro.mkdir()
    argv = ["train", "--model", "resnet8", *SYN, "--out", str(ro / "run")]
    cmd = f"mount -t tmpfs -o ro tmpfs {ro} && exec {sys.executable} -m torchshrink " + " ".join(argv)
    return Shell(["unshare", "-rm", "sh", "-c", cmd], "torchshrink " + " ".join(argv).replace(str(tmp), "TMP")
                 + " (TMP/ro mounted read-only)")


def _int8(tmp: Path) -> Any:
    from torchshrink.models import create_model
    from torchshrink.quant import PTQConfig, quantize_ptq

    m = create_model("resnet8", num_classes=4, in_channels=1, width=0.25).eval()
    return quantize_ptq(m, [torch.randn(4, 1, 16, 16)], PTQConfig(observer="minmax", engine="x86"))


def _int8_file(tmp: Path) -> str:
    from torchshrink.models import save_model

    save_model(_int8(tmp), tmp / "int8.pt")
    return str(tmp / "int8.pt")


def _tiny(**kw: Any):
    from torchshrink.models import create_model

    return create_model("resnet8", **{"num_classes": 4, "in_channels": 1, "width": 0.25, **kw})


def _torchscript(tmp: Path) -> str:
    torch.jit.trace(_tiny().eval(), torch.zeros(1, 1, 16, 16)).save(str(tmp / "scripted.pt"))
    return str(tmp / "scripted.pt")


def _safetensors(tmp: Path) -> str:
    """A safetensors file, written by hand (the format is an 8-byte header length, a JSON header, the raw data)."""
    import json

    w = torch.zeros(4, 2)
    head = json.dumps({"w": {"dtype": "F32", "shape": [4, 2], "data_offsets": [0, w.numel() * 4]}}).encode()
    return _write(tmp, "weights.safetensors", len(head).to_bytes(8, "little") + head + w.numpy().tobytes())


def _onnx(tmp: Path) -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(4, 2), torch.zeros(1, 4), str(tmp / "model.onnx"), dynamo=False)
    return str(tmp / "model.onnx")


def _state_dict(tmp: Path) -> str:
    torch.save(_tiny().state_dict(), tmp / "weights.pt")
    return str(tmp / "weights.pt")


def _pickled_module(tmp: Path) -> str:
    torch.save(_tiny(), tmp / "whole.pt")
    return str(tmp / "whole.pt")


def _fit_checkpoint(tmp: Path) -> str:
    from torchshrink.data import DataConfig, build_loaders
    from torchshrink.engine import FitConfig, fit

    L = build_loaders(DataConfig(name="synthetic", batch_size=32, train_size=32))
    fit(_tiny(), L.train, None, FitConfig(epochs=1), out_dir=tmp / "run", progress=False, quiet=True)
    return str(tmp / "run" / "checkpoint.pt")


def _packed(tmp: Path) -> str:
    from torchshrink.quant.lowbit import LowBitConfig, quantize_weights_
    from torchshrink.quant.packing import save_packed

    m = _tiny()
    quantize_weights_(m, LowBitConfig(bits=2))
    save_packed(m, tmp / "model.tspk")
    return str(tmp / "model.tspk")


def _compressed(tmp: Path) -> str:
    from torchshrink.quant.codebook import CodebookConfig, bake_, share_weights_
    from torchshrink.quant.deep_compression import save_compressed

    m = _tiny()
    share_weights_(m, CodebookConfig(bits=2))
    bake_(m)
    save_compressed(m, tmp / "model.tsdc")
    return str(tmp / "model.tsdc")


def _edit(path: str, edit: Callable[[bytearray], bytes | bytearray], name: str) -> str:
    p = Path(path).with_name(name)
    p.write_bytes(bytes(edit(bytearray(Path(path).read_bytes()))))
    return str(p)


def _flip(at: int) -> Callable[[bytearray], bytearray]:
    def f(b: bytearray) -> bytearray:
        b[at] ^= 0xFF
        return b
    return f


def _tspk_header(tmp: Path, edit: Callable[[dict], None]) -> str:
    """A .tspk whose JSON header was edited and its checksum recomputed (a file changed by hand)."""
    import hashlib
    import json
    import struct
    import zlib

    raw = Path(_packed(tmp)).read_bytes()
    n = struct.unpack("<I", raw[8:12])[0]
    header = json.loads(zlib.decompress(raw[44:44 + n]))
    edit(header)
    head = zlib.compress(json.dumps(header).encode())
    body = head + raw[44 + n:]
    return _write(tmp, "edited.tspk", raw[:8] + struct.pack("<I", len(head)) + hashlib.sha256(body).digest() + body)


def _run_with_checkpoint(tmp: Path, edit: Callable[[Path], None]) -> list[str]:
    """A `train` command resuming a run folder whose checkpoint was changed by ``edit``."""
    argv = ["train", "--model", "resnet8", *SYN, "--set", "data.train_size=32", "--out", str(tmp / "run")]
    from torchshrink.cli import main

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    (tmp / "run" / "metrics.json").unlink()  # unfinished again: the same command resumes from the checkpoint
    edit(tmp / "run" / "checkpoint.pt")
    return argv


def _holding(tmp: Path, argv: list[str]) -> list[str]:
    """``argv`` while another process holds the lock of TMP/run (as a run in progress does)."""
    import subprocess
    import textwrap

    code = textwrap.dedent(f"""
        import time
        from torchshrink.engine.rundir import lock_run_dir, make_folder
        make_folder({str(tmp / 'run')!r}); lock_run_dir({str(tmp / 'run')!r})
        print("locked", flush=True)
        time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    HOLDERS.append(p)
    assert p.stdout.readline().strip() == "locked"
    return argv


def _compare_twice(tmp: Path, second: str) -> list[str]:
    run = _finished_run(tmp)
    return ["compare", run, second.replace("{run}", run), "--out", str(tmp / "cmp")]


def _api(fn: str, *args: Any, **kw: Any):
    import importlib

    mod, name = fn.rsplit(".", 1)
    return getattr(importlib.import_module(mod), name)(*args, **kw)


def _transform_int8(verb: str, tmp: Path):
    from torchshrink.lowrank import FactorizeConfig, factorize_
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_
    from torchshrink.prune.structured import StructuredConfig, prune_
    from torchshrink.quant import PTQConfig, quantize_ptq
    from torchshrink.quant.lowbit import quantize_weights_
    from torchshrink.structured import StructureConfig, structure_
    from torchshrink.transfer import TransferConfig, transfer_filters_

    q = _int8(tmp)
    calls = {"prune": lambda: prune_(q, StructuredConfig(ratio=0.3), (1, 16, 16)),
             "magnitude": lambda: magnitude_prune_(q, MagnitudeConfig(sparsity=0.5)),
             "quantize": lambda: quantize_ptq(q, [torch.randn(4, 1, 16, 16)], PTQConfig(observer="minmax", engine="x86")),
             "lowbit": lambda: quantize_weights_(q),
             "factorize": lambda: factorize_(q, FactorizeConfig(measure=False), (1, 16, 16)),
             "structure": lambda: structure_(q, StructureConfig(measure=False, keep="size"), (1, 16, 16)),
             "transfer": lambda: transfer_filters_(q, TransferConfig())}
    return calls[verb]()


def _wrong_channels(verb: str):
    from torchshrink.lowrank import FactorizeConfig, factorize_
    from torchshrink.prune.structured import StructuredConfig, prune_
    from torchshrink.structured import StructureConfig, structure_

    m = _tiny()
    calls = {"prune": lambda: prune_(m, StructuredConfig(ratio=0.3), (3, 16, 16)),
             "factorize": lambda: factorize_(m, FactorizeConfig(measure=False), (3, 16, 16)),
             "structure": lambda: structure_(m, StructureConfig(measure=False, keep="size"), (3, 16, 16))}
    return calls[verb]()


def _synthetic_loader():
    from torchshrink.data import InMemoryLoader, make_synthetic

    return InMemoryLoader(make_synthetic(16), 8)


def _bigger_student(tmp: Path):
    from torchshrink.distill import make_distiller

    return make_distiller("kd", _tiny(width=0.5), _tiny(width=0.25), (1, 16, 16))


def _sparse_file(tmp: Path) -> str:
    from torchshrink.prune.magnitude import MagnitudeConfig, magnitude_prune_
    from torchshrink.prune.sparse_io import save_sparse

    m = _tiny()
    magnitude_prune_(m, MagnitudeConfig(sparsity=0.8))
    save_sparse(m, tmp / "sparse.pt")
    return str(tmp / "sparse.pt")


BASE_RECIPE = {"data": {"name": "synthetic"}, "model": {"name": "resnet8", "kwargs": {"width": 0.25}}}

CASES = [
    # ---- names and settings (config.py, registry.py)
    Case("unknown-model", "a misspelled model name", train("--model", "resnet21"), r"unknown model 'resnet21'.*did you mean .*'resnet20'"),
    Case("unknown-dataset", "a misspelled data set", train("--data", "fashion"), r"unknown data set 'fashion'.*did you mean 'fashion_mnist'"),
    Case("unknown-setting", "a misspelled setting group", train("--set", "train.optimm.lr=0.1"), r"train\.optimm: unknown setting.*did you mean 'optim'"),
    Case("unknown-model-option", "a misspelled model option", train("--set", "model.kwargs.widht=0.5"), r"no option 'widht'.*did you mean 'width'"),
    Case("unknown-tv-model", "a torchvision model that does not exist", train("--model", "tv:resnet999"), r"unknown torchvision model 'resnet999'.*did you mean"),
    Case("unknown-optimizer", "an optimizer that is not offered", train("--set", "train.optim.optimizer=adam"), r"optimizer: must be 'sgd' or 'adamw', got 'adam'"),
    Case("unknown-schedule", "a learning-rate schedule that is not offered", train("--set", "train.optim.schedule=linear"), r"schedule: must be 'step', 'cosine' or 'constant'"),
    Case("unknown-device", "a device torch does not know", train("--device", "tpu"), r"device 'tpu' is not a device torch knows; use --device cpu"),
    Case("cuda-without-gpu", "--device cuda on a machine without a GPU", train("--device", "cuda"), r"no CUDA GPU is available; use --device cpu") if not torch.cuda.is_available() else None,
    # ---- types and ranges
    Case("lr-not-a-number", "a learning rate that is not a number", train("--set", "train.optim.lr=banana"), r"train\.optim\.lr: expected a number, got 'banana'"),
    Case("lr-negative", "a negative learning rate", train("--lr", "-0.1"), r"train\.optim\.lr: must be a positive number, got -0\.1"),
    Case("lr-nan", "a learning rate of nan", train("--lr", "nan"), r"train\.optim\.lr: expected a finite number, got nan"),
    Case("lr-diverges", "a learning rate so large the loss overflows", train("--lr", "1e6", "--train-size", "64", "--batch-size", "16"), r"became (nan|inf|NaN or infinite).*, before any checkpoint was saved; rerun the same command with a lower learning rate \(e\.g\. --lr 100000\)"),
    Case("epochs-zero", "zero epochs", train("--epochs", "0"), r"train\.epochs: must be >= 1, got 0"),
    Case("batch-size-zero", "a batch size of 0", train("--batch-size", "0"), r"data\.batch_size: must be >= 1, got 0"),
    Case("train-size-negative", "a negative training-set size", train("--train-size", "-5"), r"train_size/test_size: must be >= 0 \(0 means all\)"),
    Case("val-fraction-outside", "a validation fraction outside [0, 1)", train("--set", "data.val_fraction=1.5"), r"data\.val_fraction: must be in \[0, 1\), got 1\.5"),
    Case("label-smoothing-outside", "label smoothing of 1.5", train("--set", "train.label_smoothing=1.5"), r"train\.label_smoothing: must be in \[0, 1\), got 1\.5"),
    Case("momentum-outside", "momentum of 1.5", train("--set", "train.optim.momentum=1.5"), r"momentum: must be in \[0, 1\), got 1\.5"),
    Case("milestones-not-list", "milestones given as one number", train("--set", "train.optim.milestones=5"), r"train\.optim\.milestones: expected a list, got 5"),
    Case("milestones-decreasing", "milestones out of order", train("--set", "train.optim.milestones=[5,2]"), r"milestones: must be increasing, got \[5, 2\]"),
    Case("bool-not-bool", "yes/no setting given a word", train("--set", "data.augment=maybe"), r"data\.augment: expected true or false, got 'maybe'"),
    Case("group-given-value", "a group of settings given a single value", train("--set", "data=3"), r"data: expected a mapping, got 3"),
    Case("value-as-group", "a sub-setting under a setting that holds a value", train("--set", "model.kwargs=3", "--set", "model.kwargs.width=1"), r"'kwargs' holds the value 3, not a group of settings; drop"),
    Case("override-without-value", "--set without '='", train("--set", "epochs"), r"override 'epochs' must look like key=value"),
    Case("override-empty-key", "--set with an empty setting name", train("--set", "train..lr=1"), r"empty setting name; write it as key\.sub=value"),
    Case("threads-negative", "a negative thread count", train("--threads", "-2"), r"threads: must be >= 0"),
    Case("width-zero", "a model width of 0", train("--set", "model.kwargs.width=0"), r"width must be a number in \(0, 64\].*got 0; pass e\.g\. width=0\.5"),
    # ---- config files
    Case("config-missing", "--config naming a file that does not exist", train("--config", "{tmp}/nope.yaml"), r"config file '.*nope\.yaml' does not exist; check the path"),
    Case("config-bad-yaml", "--config with broken YAML", lambda tmp: train("--config", _write(tmp, "bad.yaml", "model: [1, 2\n"))(tmp), r"bad\.yaml' is not valid YAML at line 2; fix its syntax"),
    Case("config-not-mapping", "--config holding a list", lambda tmp: train("--config", _write(tmp, "list.yaml", "- a\n- b\n"))(tmp), r"list\.yaml' must hold a mapping of settings, not a list"),
    Case("config-binary", "--config pointing at a model file", lambda tmp: train("--config", _model_file(tmp))(tmp), r"m\.pt' is not a text file.*pass a YAML file"),
    # ---- data
    Case("data-root-missing", "--data-root that does not hold the data", cli("train", "--model", "resnet8", "--data-root", "{tmp}/nowhere", "--no-progress", "--out", "{tmp}/run"), r"Fashion-MNIST files .* not found in .*nowhere.*pass --data-root FOLDER"),
    Case("imagefolder-no-root", "imagefolder without --data-root", train("--data", "imagefolder"), r"needs a root; pass --data-root FOLDER"),
    Case("imagefolder-no-split", "an image folder without train/", lambda tmp: train("--data", "imagefolder", "--data-root", str(tmp))(tmp), r"image folder '.*train' does not exist; pass --data-root"),
    Case("imagefolder-empty", "an image folder with no class folders", lambda tmp: ((tmp / "img" / "train").mkdir(parents=True), train("--data", "imagefolder", "--data-root", str(tmp / "img"))(tmp))[1], r"no images found under .*each class needs its own sub-folder"),
    Case("cifar-missing", "CIFAR-10 not present under --data-root", train("--data", "cifar10", "--data-root", "{tmp}"), r"cifar10 not found under .*pass --data-root"),
    Case("empty-training-set", "fit() on an empty data set", lib(_fit_empty), r"the training set is empty \(0 batches\); check the data set"),
    # ---- run folders (no silent loss)
    Case("out-holds-another-run", "--out pointing at another run's results", _another_run, r"already holds another run's results; choose another --out, or pass --overwrite"),
    Case("out-is-a-file", "--out pointing at a file", lambda tmp: train("--out", _write(tmp, "afile", "x"))(tmp), r"is a file, not a folder; choose another --out"),
    Case("compare-over-earlier", "compare --out pointing at an earlier comparison", _earlier_compare, r"cmp/compare\.md' already exists; choose another --out, or pass --overwrite to replace it"),
    Case("compare-out-is-a-file", "compare --out pointing at a file", lambda tmp: ["compare", _finished_run(tmp), "--out", _write(tmp, "afile", "x")], r"is a file, not a folder; choose another --out"),
    Case("advise-over-recipe", "advise --out naming a recipe that already exists", lambda tmp: ["advise", "--model", "resnet8", "--data", "synthetic", "--out", _write(tmp, "recipe.yaml", "steps: []\n")], r"recipe\.yaml' already exists; choose another --out, or pass --overwrite to replace it"),
    Case("quantize-over-another-run", "quantize --out holding another quantization's results", _earlier_quantize, r"'.*q' already holds another run's results; choose another --out, or pass --overwrite"),
    Case("export-over-file", "an export step aimed at an existing file outside the run folder", _export_over, r"export path '.*shipped\.pt' already exists; choose another path, or set 'overwrite: true'"),
    # ---- model files and shapes
    Case("eval-missing-file", "eval of a file that does not exist", cli("eval", "{tmp}/model.pt"), r"model\.pt' does not exist; check the path or train first"),
    Case("eval-folder", "eval given the run folder instead of the file", cli("eval", "{tmp}"), r"is a folder, not a checkpoint or model file; pass the file inside it"),
    Case("eval-truncated", "eval of a truncated model file", lambda tmp: ["eval", _write(tmp, "cut.pt", Path(_model_file(tmp)).read_bytes()[:999]), "--data", "synthetic"], r"cut\.pt': it is truncated or corrupt; delete it and rerun"),
    Case("eval-checkpoint", "eval of a training checkpoint instead of a model file", lambda tmp: (torch.save({"epoch": 1}, tmp / "checkpoint.pt"), ["eval", str(tmp / "checkpoint.pt"), "--data", "synthetic"])[1], r"not a torchshrink model file.*pass a file written by save_model"),
    Case("eval-wrong-channels", "eval of a 3-channel model on 1-channel data", lambda tmp: ["eval", _model_file(tmp, in_channels=3), "--data", "synthetic"], r"takes 3-channel images but data set 'synthetic' has 1 channels; evaluate it on the data set it was trained on"),
    Case("eval-wrong-classes", "eval of a 3-class model on a 4-class data set", lambda tmp: ["eval", _model_file(tmp, num_classes=3), "--data", "synthetic"], r"predicts 3 classes but data set 'synthetic' has 4"),
    Case("measure-channel-mismatch", "--in-channels that contradicts --input-shape", cli("measure", "--model", "resnet20", "--in-channels", "1", "--no-latency"), r"does not match --input-shape channels 3; make them equal"),
    Case("measure-zero-shape", "an input shape with a zero", cli("measure", "--model", "resnet20", "--input-shape", "3", "0", "32", "--no-latency"), r"--input-shape must be positive numbers \(C H W for images, T for token ids\), got 3 0 32"),
    Case("measure-repeats-zero", "zero timing repeats", cli("measure", "--model", "resnet20", "--repeats", "0"), r"--repeats must be >= 1, got 0"),
    Case("measure-wrong-input", "measuring a saved 1-channel model on 3-channel input", lambda tmp: ["measure", "--file", _model_file(tmp), "--no-latency"], r"takes 1-channel images but --input-shape gives 3; pass --input-shape 1 H W"),
    Case("num-classes-zero", "a model with 0 classes", cli("measure", "--model", "resnet20", "--num-classes", "0", "--no-latency"), r"--num-classes must be >= 1, got 0"),
    Case("demo-epochs-zero", "demo with 0 epochs", cli("demo", "--epochs", "0", "--out", "{tmp}/demo"), r"epochs: must be >= 1, got 0"),
    # ---- distillation
    Case("distill-unknown-method", "an unknown distillation method", lib(lambda tmp: _distill("hinton")), r"unknown.*'hinton'.*(did you mean|valid|choose)"),
    Case("distill-bad-feature-path", "a feature path that does not exist", lib(lambda tmp: __import__("torchshrink.distill", fromlist=["resolve_module"]).resolve_module(
        __import__("torchshrink.models", fromlist=["create_model"]).create_model("resnet8"), "layer9")), r"layer9"),
    Case("distill-class-mismatch", "a 10-class teacher for a 4-class student", lib(lambda tmp: _distill("kd", t_classes=10)), r"the teacher predicts 10 classes but the student predicts 4; build both for the same data set"),
    Case("distill-class-mismatch-unknown-head", "teacher and student whose classifiers cannot be read, with 3 vs 5 classes", lib(lambda tmp: _distill_plain(3, 5)), r"the teacher predicts 5 classes but the student predicts 3; build both for the same data set"),
    Case("fitnet-tap-shape-mismatch", "FitNet hint and guided layers of different spatial size", lib(lambda tmp: _distill("fitnet", student_layer="layer1", teacher_layer="layer3")), r"student feature \(1, 4, 16, 16\) cannot be matched with teacher feature \(1, 32, 4, 4\); the connector maps channels only, so tap layers with the same spatial size"),
    Case("at-tap-shape-mismatch", "attention transfer between layers of different spatial size", lib(lambda tmp: _distill("at", student_layers=["layer1"], teacher_layers=["layer3"]).forward_train(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.long))), r"attention transfer needs equal spatial sizes.*tap layers with matching resolution"),
    # ---- pruning, quantization, low rank
    Case("prune-ratio-outside", "a pruning ratio of 1.5", lib(lambda tmp: _from_dict("torchshrink.prune.structured.StructuredConfig", {"ratio": 1.5})), r"ratio: must be in \(0, 1\) \(the fraction of channels removed, e\.g\. 0\.3\), got 1\.5"),
    Case("sparsity-outside", "a sparsity of 1 (remove every weight)", lib(lambda tmp: _from_dict("torchshrink.prune.magnitude.MagnitudeConfig", {"sparsity": 1.0})), r"sparsity: the fraction of weights zeroed must be in \(0, 1\), got 1\.0"),
    Case("prune-exclude-unknown", "excluding a layer that does not exist", lib(lambda tmp: __import__("torchshrink.prune.magnitude", fromlist=["prunable_weights"]).prunable_weights(
        __import__("torchshrink.models", fromlist=["create_model"]).create_model("resnet8"), ["layer9"])), r"the model has no layer 'layer9'.*use names from model\.named_modules\(\)"),
    Case("prune-ratio-removes-layer", "a channel ratio that would leave a layer with no channels", lib(lambda tmp: _prune(ratio=0.9)), r"ratio 0\.9 would remove all 4 channels of layer 'conv1'.*removing the layer; use a ratio of at most 0\.75"),
    Case("prune-nothing-removable", "a channel ratio that rounding leaves nothing to remove", lib(lambda tmp: _prune(ratio=0.3, round_to=16)), r"ratio 0\.3 removed no channels \(round_to=16.*lower round_to or exclude fewer layers"),
    Case("prune-untraceable", "structured pruning of a model whose channel shuffle Torch-Pruning cannot trace", lib(lambda tmp: _prune("shufflenetv2", ratio=0.3)), r"could not follow the channel dependencies of ShuffleNetV2 \(ZeroDivisionError in Torch-Pruning.*unstructured pruning, low-rank factorization or distillation instead"),
    Case("prune-macs-unreachable", "a MACs budget below what pruning can reach", lib(lambda tmp: _prune(macs=0.001)), r"macs 0\.001 cannot be reached.*raise macs or max_layer_ratio"),
    Case("sparsity-empties-layer", "a global sparsity that zeroes a whole layer", lib(_magnitude_empties_a_layer), r"sparsity 0\.9 \(scope global\) would zero every weight of layer 'layer1\.0\.conv1', removing it; lower the sparsity, use scope: layer"),
    Case("export-unknown-runtime", "export to a misspelled runtime", lambda tmp: ["export", _model_file(tmp), "--runtime", "onnxruntim", "--data", "synthetic", "--out", str(tmp / "e")], r"^unknown runtime 'onnxruntim' \(did you mean 'onnxruntime'.*\); valid runtimes: .*onnxruntime-int8/u8"),
    Case("export-int8-no-calibration", "an int8 runtime without calibration data", cli("measure", "--model", "resnet8", "--runtime", "onnxruntime-int8/u8", "--no-latency"), r"runtime onnxruntime-int8/u8 cannot run this model: quantizes the model and needs calibration batches: pass calibration=.*torchshrink export and quantize take them"),
    Case("export-accuracy-falls", "a runtime whose top-1 after export falls more than allowed", lib(_deploy_loses_accuracy), r"no runtime can run this model as asked \(torch-int8/x86: top-1 after export .* more than the allowed 1 \(max_top1_drop\)\); allow a larger accuracy drop"),
    Case("quantize-circular-padding", "int8 of a conv with circular padding", lib(lambda tmp: _ptq(_Padded())), r"layer 'c' \(Conv2d with padding_mode='circular'\) cannot be quantized to int8.*use padding_mode='zeros'"),
    Case("quantize-transposed-per-channel", "per-channel int8 of a transposed conv", lib(lambda tmp: _ptq(_Padded("transpose"))), r"layer 'c' \(ConvTranspose2d\) cannot be quantized to int8 with per-channel weight scales; pass --per-tensor"),
    Case("quantize-untraceable", "static int8 of a model whose forward branches on values", lib(lambda tmp: _ptq(_Branchy("plain"))), r"_Branchy cannot be quantized to static int8: its forward branches on tensor values.*--method dynamic"),
    Case("quantize-no-int8-kernel", "static int8 of a model with an integer-index embedding", lib(lambda tmp: _ptq(_Embeds())), r"_Embeds could not be converted to static int8 \(RuntimeError: .*\); quantize with --method dynamic"),
    Case("lowbit-bits-outside", "1-bit DoReFa weights", lib(lambda tmp: _from_dict("torchshrink.quant.lowbit.LowBitConfig", {"bits": 1})), r"bits: must be in 2\.\.8, got 1"),
    Case("ptq-unknown-observer", "an unknown quantization observer", lib(lambda tmp: _from_dict("torchshrink.quant.ptq.PTQConfig", {"observer": "max"})), r"observer: must be one of"),
    # ---- structured matrices, transferred filters
    Case("structure-block-too-small", "a block size of 1 for block-circulant layers", lib(lambda tmp: _from_dict("torchshrink.structured.StructureConfig", {"block": 1})), r"block: the block size must be an integer >= 2 \(block 1 is the dense layer\), got 1"),
    Case("structure-keep-unknown", "keep set to something other than speed or size", lib(lambda tmp: _from_dict("torchshrink.structured.StructureConfig", {"keep": "fast"})), r"keep: must be 'speed' .* or 'size'"),
    Case("structure-block-divides-none", "a block size that divides no layer, with padding off", lib(lambda tmp: __import__("torchshrink.structured", fromlist=["structure_"]).structure_(
        torch.nn.Sequential(torch.nn.Linear(10, 6)), _from_dict("torchshrink.structured.StructureConfig", {"block": 4, "pad": False, "keep": "size", "measure": False}), (10,))), r"block=4 divides none of the selected layers' sizes \(Linear 10->6\); use block 2 or set pad: true"),
    Case("structure-cli-block-zero", "structure --block 0", lambda tmp: ["structure", _model_file(tmp), "--block", "0", "--data", "synthetic", "--out", str(tmp / "s")], r"structure: block: the block size must be an integer >= 2"),
    Case("transfer-unknown-method", "an unknown transferred-filter method", lib(lambda tmp: _from_dict("torchshrink.transfer.TransferConfig", {"method": "rotate"})), r"method: must be one of crelu, rot4, flip, rot4flip, got 'rotate'"),
    Case("transfer-exclude-unknown", "excluding a convolution that does not exist", lib(lambda tmp: __import__("torchshrink.transfer", fromlist=["transfer_filters_"]).transfer_filters_(
        __import__("torchshrink.models", fromlist=["create_model"]).create_model("resnet8"), _from_dict("torchshrink.transfer.TransferConfig", {"exclude": ["layer9"]}), (3, 16, 16))), r"pattern 'layer9' matches no Conv2d layer of the model; use names from model\.named_modules\(\)"),
    # ---- recipes
    Case("recipe-no-steps", "a recipe without steps", recipe({**BASE_RECIPE}), r"steps: the recipe has no steps; add a list"),
    Case("recipe-unknown-step", "a misspelled step", recipe({**BASE_RECIPE, "steps": [{"prun": {"ratio": 0.5}}]}), r"steps\[1\] prun: unknown step.*did you mean 'prune'"),
    Case("recipe-ratio-outside", "a prune step with ratio 7", recipe({**BASE_RECIPE, "steps": [{"prune": {"ratio": 7}}]}), r"steps\[1\] prune: ratio: must be in"),
    Case("recipe-after-quantize", "a step after quantize that needs float weights", recipe({**BASE_RECIPE, "steps": [{"quantize": {}}, {"prune": {"ratio": 0.5}}]}), r"cannot follow the quantize step.*move this step before quantize"),
    Case("recipe-no-teacher", "a distill step without a teacher", recipe({**BASE_RECIPE, "steps": [{"distill": {}}]}), r"needs a teacher; add 'teacher:"),
    Case("recipe-untrained-teacher", "a distill step before the teacher is trained", recipe({**BASE_RECIPE, "teacher": {"name": "resnet8"}, "steps": [{"distill": {}}]}), r"needs a trained teacher; give teacher\.path or put a 'train: \{target: teacher\}' step before it"),
    Case("recipe-missing-model-file", "a recipe model path that does not exist", recipe({"data": {"name": "synthetic"}, "model": {"path": "/nonexistent/m.pt"}, "steps": [{"evaluate": {}}]}), r"path: '/nonexistent/m\.pt' does not exist; train it first or fix the path"),
    # ---- the toolkit's own files, and files it did not write (models/files.py, io.py, quant/packing.py, ...)
    Case("eval-torchscript", "eval of a TorchScript file", lambda tmp: ["eval", _torchscript(tmp), "--data", "synthetic"], r"scripted\.pt' is a TorchScript file \(torch\.jit\.save\).*pass the model file written by save_model"),
    Case("eval-safetensors", "eval of a safetensors file", lambda tmp: ["eval", _safetensors(tmp), "--data", "synthetic"], r"weights\.safetensors' is a safetensors file \(weights without an architecture\); build the model with create_model"),
    Case("eval-onnx", "eval of an ONNX file", lambda tmp: ["eval", _onnx(tmp), "--data", "synthetic"], r"model\.onnx' is an ONNX model.*pass the torchshrink model file it was exported from"),
    Case("eval-state-dict", "eval of a plain state dict", lambda tmp: ["eval", _state_dict(tmp), "--data", "synthetic"], r"weights\.pt' holds a plain state dict \(weights without an architecture\).*save it with save_model"),
    Case("eval-pickled-module", "eval of a whole model saved with torch.save(model)", lambda tmp: ["eval", _pickled_module(tmp), "--data", "synthetic"], r"whole\.pt': it holds pickled Python objects \(torchshrink\.models\..*torch\.save\(model\).*save the model with torchshrink\.save_model"),
    Case("eval-fit-checkpoint", "eval of the checkpoint a training run writes", lambda tmp: ["eval", _fit_checkpoint(tmp), "--data", "synthetic"], r"checkpoint\.pt' is a training checkpoint.*pass the model file written at the end of the run \(e\.g\. '.*run/model\.pt'\)"),
    Case("measure-torchscript", "measure --file of a TorchScript file", lambda tmp: ["measure", "--file", _torchscript(tmp), "--no-latency"], r"is a TorchScript file"),
    Case("prune-safetensors", "prune of a safetensors file", lambda tmp: ["prune", _safetensors(tmp), "--data", "synthetic", "--out", str(tmp / "p")], r"is a safetensors file"),
    Case("distill-teacher-state-dict", "a distillation teacher given as a plain state dict", lambda tmp: ["distill", "--teacher", _state_dict(tmp), "--data", "synthetic", "--out", str(tmp / "d")], r"holds a plain state dict"),
    Case("recipe-model-torchscript", "a recipe whose model path is a TorchScript file", lambda tmp: recipe({"data": {"name": "synthetic"}, "model": {"path": _torchscript(tmp)}, "steps": [{"evaluate": {}}]})(tmp), r"model: '.*scripted\.pt' is a TorchScript file"),
    Case("model-file-flipped-byte", "a model file with one byte changed", lambda tmp: ["eval", _edit(_model_file(tmp), _flip(900), "flipped.pt"), "--data", "synthetic"], r"flipped\.pt': it is damaged \(its bytes do not match the checksum written with it\); delete it and rerun"),
    Case("model-file-cut-in-seal", "a model file missing its last byte", lambda tmp: ["eval", _edit(_model_file(tmp), lambda b: b[:-1], "cut.pt"), "--data", "synthetic"], r"cut\.pt': it is (damaged|truncated or corrupt)"),
    Case("model-file-appended", "a model file with bytes appended", lambda tmp: ["eval", _edit(_model_file(tmp), lambda b: b + b"extra", "longer.pt"), "--data", "synthetic"], r"longer\.pt': it is (damaged|truncated or corrupt)"),
    Case("tspk-8-bytes", "a packed file cut to 8 bytes", lambda tmp: ["eval", _edit(_packed(tmp), lambda b: b[:8], "short.tspk"), "--data", "synthetic"], r"short\.tspk' is truncated \(8 bytes, shorter than the header of a packed low-bit file \(\.tspk\)\); delete it and write it again with save_packed"),
    Case("tspk-header-past-end", "a packed file whose header length points past its end", lambda tmp: ["eval", _edit(_packed(tmp), lambda b: b[:8] + (10 ** 8).to_bytes(4, "little") + b[12:], "long.tspk"), "--data", "synthetic"], r"long\.tspk' is truncated or damaged \(its header claims 100000000 bytes, but only \d+ follow\)"),
    Case("tspk-truncated-header", "a packed file cut inside its header", lambda tmp: ["eval", _edit(_packed(tmp), lambda b: b[:60], "cut.tspk"), "--data", "synthetic"], r"cut\.tspk' is truncated or damaged \(its header claims \d+ bytes, but only 16 follow\)"),
    Case("tspk-truncated-data", "a packed file cut inside its weights", lambda tmp: ["eval", _edit(_packed(tmp), lambda b: b[:-100], "cut.tspk"), "--data", "synthetic"], r"cut\.tspk' is damaged \(its bytes do not match the checksum written with it\)"),
    Case("tspk-flipped-header-byte", "a packed file with a header byte changed", lambda tmp: ["eval", _edit(_packed(tmp), _flip(50), "flip.tspk"), "--data", "synthetic"], r"flip\.tspk' is damaged \(its bytes do not match the checksum"),
    Case("tspk-newer-version", "a packed file of a format version this torchshrink does not know", lambda tmp: ["eval", _edit(_packed(tmp), lambda b: b[:4] + (9).to_bytes(4, "little") + b[8:], "v9.tspk"), "--data", "synthetic"], r"v9\.tspk' has format version 9, and this torchshrink reads versions 1 and 2: update torchshrink"),
    Case("tspk-edited-layers", "a packed file whose header was edited by hand (checksum recomputed)", lambda tmp: ["eval", _tspk_header(tmp, lambda h: h.update(layers="all")), "--data", "synthetic"], r"edited\.tspk' is damaged \(its layers entry is malformed\)"),
    Case("tspk-edited-arch", "a packed file whose architecture was edited by hand", lambda tmp: ["eval", _tspk_header(tmp, lambda h: h["arch"].update(num_classes=7)), "--data", "synthetic"], r"edited\.tspk belongs to another model"),
    Case("tsdc-flipped-byte", "a Deep Compression file with a byte changed", lambda tmp: ["eval", _edit(_compressed(tmp), _flip(-50), "flip.tsdc"), "--data", "synthetic"], r"flip\.tsdc' is damaged \(its bytes do not match the checksum written with it\); delete it and write it again with save_compressed"),
    Case("tsdc-truncated", "a Deep Compression file cut short", lambda tmp: ["measure", "--file", _edit(_compressed(tmp), lambda b: b[:30], "cut.tsdc"), "--input-shape", "1", "16", "16", "--no-latency"], r"cut\.tsdc' is truncated or damaged"),
    Case("load-packed-of-a-model-file", "load_packed of an ordinary model file", lib(lambda tmp: _api("torchshrink.quant.packing.load_packed", _model_file(tmp))), r"m\.pt' is not a torchshrink packed low-bit file \(\.tspk\); pass a file written by save_packed"),
    Case("load-sparse-of-a-model-file", "load_sparse of an ordinary model file", lib(lambda tmp: _api("torchshrink.prune.sparse_io.load_sparse", _model_file(tmp))), r"m\.pt' is not a torchshrink sparse model file; load it with torchshrink\.models\.load_model"),
    Case("sparse-file-cut", "a sparse model file cut short", lib(lambda tmp: _api("torchshrink.models.load_model", _write(tmp, "s.pt", Path(_sparse_file(tmp)).read_bytes()[:-300]))), r"s\.pt': it is truncated or corrupt"),
    Case("resume-damaged-checkpoint", "resuming a run whose checkpoint has a byte changed", lambda tmp: _run_with_checkpoint(tmp, lambda p: p.write_bytes(bytes(_flip(2000)(bytearray(p.read_bytes()))))), r"checkpoint\.pt': it is damaged \(its bytes do not match the checksum"),
    Case("resume-model-as-checkpoint", "a run folder whose checkpoint.pt is a model file", lambda tmp: _run_with_checkpoint(tmp, lambda p: p.write_bytes(Path(_model_file(tmp)).read_bytes())), r"checkpoint\.pt' is a model file, not a training checkpoint; remove it from the run folder"),
    Case("resume-checkpoint-edited", "a checkpoint whose entries were edited (no epoch)", lambda tmp: _run_with_checkpoint(tmp, lambda p: __import__("torchshrink.io", fromlist=["save_checkpoint"]).save_checkpoint({"format": "torchshrink-checkpoint", "model": {}}, p)), r"checkpoint '.*checkpoint\.pt' is damaged \(its model, optimizer, scheduler, rng or history entry is missing or malformed\)"),
    Case("load-model-none", "load_model(None)", lib(lambda tmp: _api("torchshrink.models.load_model", None)), r"expected the path of a model file, got None; pass a file path"),
    Case("load-model-a-model", "load_model given a model instead of a path", lib(lambda tmp: _api("torchshrink.models.load_model", _tiny())), r"expected the path of a model file, got CifarResNet; pass a file path"),
    Case("load-model-unknown-device", "load_model onto a device torch does not know", lib(lambda tmp: _api("torchshrink.models.load_model", _model_file(tmp), map_location="gpu")), r"map_location 'gpu' is not a device torch knows; use 'cpu' or 'cuda'"),
    Case("load-model-cuda-without-gpu", "load_model onto CUDA on a machine without a GPU", lib(lambda tmp: _api("torchshrink.models.load_model", _model_file(tmp), map_location="cuda")), r"map_location 'cuda' asks for a CUDA GPU but none is available; use 'cpu'") if not torch.cuda.is_available() else None,
    Case("from-dict-not-a-mapping", "from_dict given a name where settings are expected", lib(lambda tmp: _from_dict("torchshrink.data.DataConfig", "synthetic")), r"expected a mapping of DataConfig settings \(e\.g\. \{'name': \.\.\.\}\), got 'synthetic'"),
    Case("evaluate-wrong-channels", "evaluate() of a 3-channel model on 1-channel data", lib(lambda tmp: _api("torchshrink.engine.evaluate", _tiny(in_channels=3), _synthetic_loader())), r"the model reads 3-channel images but the data's images have 1 channels; use the data set the model was built for \(or build it with in_channels=1\)"),
    Case("evaluate-too-few-classes", "evaluate() of a 2-class model on 4-class data", lib(lambda tmp: _api("torchshrink.engine.evaluate", _tiny(num_classes=2), _synthetic_loader())), r"the data has labels up to 3 but the model predicts 2 classes; build it with num_classes=4"),
    Case("fit-wrong-channels", "fit() of a 3-channel model on 1-channel data", lib(lambda tmp: _api("torchshrink.engine.fit", _tiny(in_channels=3), _synthetic_loader(), progress=False)), r"the model reads 3-channel images but the data's images have 1 channels"),
    Case("fit-too-few-classes", "fit() of a 2-class model on 4-class data", lib(lambda tmp: _api("torchshrink.engine.fit", _tiny(num_classes=2), _synthetic_loader(), progress=False)), r"the data has labels up to 3 but the model predicts 2 classes; build it with num_classes=4"),
    Case("fit-out-dir-is-a-file", "fit() with out_dir naming a file", lib(lambda tmp: _api("torchshrink.engine.fit", _tiny(), _synthetic_loader(), out_dir=_write(tmp, "afile", "x"), progress=False)), r"output path '.*afile' is a file, not a folder"),
    Case("out-empty", "an empty --out", train("--out", ""), r"output path is empty; choose another --out"),
    Case("ptq-calibration-wrong-channels", "int8 calibration on 3-channel batches for a 1-channel model", lib(lambda tmp: _api("torchshrink.quant.quantize_ptq", _tiny().eval(), [torch.randn(2, 3, 16, 16)], _api("torchshrink.quant.PTQConfig", observer="minmax", engine="x86"))), r"the model reads 1-channel images but the data's images have 3 channels; use the data set the model was built for"),
    Case("ptq-calibration-not-tensors", "int8 calibration on a list of file names", lib(lambda tmp: _api("torchshrink.quant.quantize_ptq", _tiny().eval(), ["a.png", "b.png"], _api("torchshrink.quant.PTQConfig", observer="minmax", engine="x86"))), r"a calibration batch: expected a batch of tensors \(or \(inputs, labels\) pairs\), got the str 'a\.png'"),
    Case("prune-no-shape", "prune_ without an input shape", lib(lambda tmp: _api("torchshrink.prune.structured.prune_", _tiny(), _from_dict("torchshrink.prune.structured.StructuredConfig", {"ratio": 0.3}), None)), r"prune\.structured needs example inputs \(a batch the model takes\) or data to take one from"),
    Case("factorize-token-example", "factorize_ of an image model given token ids as its example", lib(lambda tmp: _api("torchshrink.lowrank.factorize_", _tiny(), None, torch.zeros(1, 16, dtype=torch.long))), r"the model does not run on the example inputs int64 \(1, 16\) \(RuntimeError: .*\); pass a batch of the data it was built for"),
    Case("distill-wrong-shape", "make_distiller with an input shape the models do not take", lib(lambda tmp: _api("torchshrink.distill.make_distiller", "fitnet", _tiny(), _tiny(width=0.5), (3, 16, 16))), r"the model reads 1-channel images but input_shape gives 3 channels"),
    Case("count-macs-wrong-shape", "count_macs with a shape the model does not take", lib(lambda tmp: _api("torchshrink.measure.count_macs", _tiny(), (3, 16, 16))), r"the model reads 1-channel images but the example inputs have 3 channels \(one input's shape \(3, 16, 16\)\); pass inputs of shape \(1, H, W\)"),
    Case("count-params-not-a-module", "count_params of a model name", lib(lambda tmp: _api("torchshrink.measure.count_params", "resnet8")), r"model: expected a torch\.nn\.Module, got the str 'resnet8'"),
    Case("distill-teacher-wrong-channels", "distill with a 3-channel teacher on 1-channel data", lambda tmp: ["distill", "--teacher", _model_file(tmp, in_channels=3), "--data", "synthetic", "--out", str(tmp / "d"), "--no-progress", "--method", "residual-m1"], r"the teacher reads 3-channel images but the student reads 1; build both for the same data set"),
    Case("distill-teacher-missing-packed", "distill --teacher naming a .tspk file that does not exist", lambda tmp: ["distill", "--teacher", str(tmp / "gone.tspk"), "--data", "synthetic", "--out", str(tmp / "d")], r"teacher file '.*gone\.tspk' does not exist; train one"),
    Case("residual-options-dropped", "distiller options given to residual KD on the L2 loss, which takes none", lambda tmp: ["distill", "--teacher", _model_file(tmp), "--data", "synthetic", "--out", str(tmp / "d"), "--no-progress", "--method", "residual-m1", "--set", "options.temperature=2", "--set", "data.train_size=32"], r"options: temperature: residual KD with the L2 feature loss takes no distiller options.*choose a residual\+ method"),
    Case("eval-threads-negative", "eval --threads -1", lambda tmp: ["eval", _model_file(tmp), "--data", "synthetic", "--threads", "-1"], r"--threads must be >= 0 \(0 = torch's choice\), got -1"),
    Case("prune-importance-unknown", "prune --importance with a method that does not exist (the default MACs budget kept)", lambda tmp: ["prune", _model_file(tmp), "--data", "synthetic", "--importance", "l3", "--out", str(tmp / "p")], r"prune: importance: unknown 'l3'; choose one of"),
    # ---- the Python API checks like the CLI (torchshrink/checks.py)
    Case("measure-wrong-channels", "measure() of a 1-channel model on a 3-channel shape", lib(lambda tmp: _api("torchshrink.measure.measure", _tiny(), (3, 16, 16), latency=False)), r"the model reads 1-channel images but the example inputs have 3 channels \(one input's shape \(3, 16, 16\)\); pass inputs of shape \(1, H, W\)"),
    Case("measure-batch-in-shape", "measure() given a shape with the batch dimension", lib(lambda tmp: _api("torchshrink.measure.measure", _tiny(), (1, 1, 16, 16), latency=False)), r"the example inputs' shape \(1, 1, 16, 16\) includes the batch dimension; pass one input's shape \(1, 16, 16\)"),
    Case("measure-shape-a-string", "measure() given the shape as a string", lib(lambda tmp: _api("torchshrink.measure.measure", _tiny(), "1x16x16", latency=False)), r"example inputs must be a tensor, a tuple of tensors, a dict of tensors or an input shape such as \(3, 32, 32\); got str '1x16x16'"),
    Case("measure-not-a-module", "measure() given a model name", lib(lambda tmp: _api("torchshrink.measure.measure", "resnet20", (3, 32, 32))), r"model 'model': expected a torch\.nn\.Module, got the str 'resnet20'; build it with torchshrink\.create_model"),
    Case("prune-wrong-channels", "prune_ with a 3-channel shape for a 1-channel model", lib(lambda tmp: _wrong_channels("prune")), r"the model reads 1-channel images but the example inputs have 3 channels \(one input's shape \(3, 16, 16\)\); pass inputs of shape \(1, H, W\)"),
    Case("factorize-wrong-channels", "factorize_ with a 3-channel shape for a 1-channel model", lib(lambda tmp: _wrong_channels("factorize")), r"the model reads 1-channel images but the example inputs have 3 channels \(one input's shape \(3, 16, 16\)\); pass inputs of shape \(1, H, W\)"),
    Case("structure-wrong-channels", "structure_ with a 3-channel shape for a 1-channel model", lib(lambda tmp: _wrong_channels("structure")), r"the model reads 1-channel images but the example inputs have 3 channels \(one input's shape \(3, 16, 16\)\); pass inputs of shape \(1, H, W\)"),
    Case("prune-config-as-dict", "prune_ with a dict config holding a word for a number", lib(lambda tmp: _api("torchshrink.prune.structured.prune_", _tiny(), {"ratio": "half"}, (1, 16, 16))), r"StructuredConfig\.ratio: expected a number, got 'half'"),
    Case("prune-config-wrong-kind", "prune_ given another method's config", lib(lambda tmp: _api("torchshrink.prune.structured.prune_", _tiny(), _from_dict("torchshrink.prune.magnitude.MagnitudeConfig", {}), (1, 16, 16))), r"expected a StructuredConfig config, got a MagnitudeConfig; pass StructuredConfig\(\.\.\.\)"),
    Case("ptq-config-bad-field", "quantize_ptq with a config whose field has the wrong type", lib(lambda tmp: _api("torchshrink.quant.quantize_ptq", _tiny().eval(), [torch.randn(2, 1, 16, 16)], _api("torchshrink.quant.PTQConfig", per_channel="yes"))), r"PTQConfig\.per_channel: expected true or false, got 'yes'"),
    Case("fit-config-as-dict", "fit with a dict config holding a word for a number", lib(lambda tmp: _api("torchshrink.engine.fit", _tiny(), [], None, {"epochs": "three"})), r"FitConfig\.epochs: expected an integer, got 'three'"),
    Case("fit-not-a-module", "fit given a model name", lib(lambda tmp: _api("torchshrink.engine.fit", "resnet8", [])), r"expected a torch\.nn\.Module, got the str 'resnet8'"),
    Case("distill-channel-mismatch", "teacher and student reading different channels", lib(lambda tmp: _api("torchshrink.distill.make_distiller", "fitnet", _tiny(), _tiny(in_channels=3, width=0.5), (1, 16, 16))), r"the teacher reads 3-channel images but the student reads 1; build both for the same data set \(the same in_channels\)"),
    Case("distill-unknown-option", "a misspelled distiller option", lib(lambda tmp: _api("torchshrink.distill.make_distiller", "kd", _tiny(), _tiny(width=0.5), (1, 16, 16), tempertaure=3)), r"distillation method 'kd' has no option 'tempertaure' \(did you mean 'temperature'\?\); its options: temperature, kd_weight, ce_weight"),
    Case("distill-option-wrong-type", "a distiller option of the wrong type", lib(lambda tmp: _api("torchshrink.distill.make_distiller", "dkd", _tiny(), _tiny(width=0.5), (1, 16, 16), temperature="hot")), r"distillation method 'dkd' option temperature: expected a number, got 'hot'"),
    Case("kd-temperature-zero", "KD with a temperature of 0", lib(lambda tmp: _api("torchshrink.distill.KD", _tiny(), _tiny(width=0.5), temperature=0)), r"temperature: must be a positive number \(the softmax divides by it\), got 0; the usual value is 4"),
    Case("distill-weight-negative", "a negative distillation loss weight", lib(lambda tmp: _api("torchshrink.distill.make_distiller", "kd", _tiny(), _tiny(width=0.5), (1, 16, 16), kd_weight=-1)), r"distillation method 'kd' option kd_weight: must be >= 0, got -1"),
    Case("distill-not-a-module", "a teacher given as a path", lib(lambda tmp: _api("torchshrink.distill.KD", _tiny(), "runs/teacher/model.pt")), r"teacher: expected a torch\.nn\.Module, got the str 'runs/teacher/model\.pt'; build it with torchshrink\.create_model\(.*\) or load it with load_model\(path\)"),
    Case("distill-larger-student", "a student larger than its teacher (allowed: born-again training; warned)", warns(_bigger_student), r"the student \([\d,]+ parameters\) is larger than its teacher \([\d,]+\), so distilling it compresses nothing; choose a smaller student"),
    Case("build-loaders-dict-types", "build_loaders with a dict holding a word for a number", lib(lambda tmp: _api("torchshrink.data.build_loaders", {"name": "synthetic", "batch_size": "eight"})), r"DataConfig\.batch_size: expected an integer, got 'eight'"),
    Case("build-loaders-dict-unknown", "build_loaders with a misspelled setting", lib(lambda tmp: _api("torchshrink.data.build_loaders", {"nmae": "synthetic"})), r"DataConfig\.nmae: unknown setting \(did you mean 'name'\?\)"),
    Case("build-loaders-config-types", "build_loaders with a DataConfig whose field has the wrong type", lib(lambda tmp: _api("torchshrink.data.build_loaders", _api("torchshrink.data.DataConfig", name="synthetic", batch_size="8"))), r"DataConfig\.batch_size: expected an integer, got '8'"),
    Case("build-loaders-wrong-config", "build_loaders given a training config", lib(lambda tmp: _api("torchshrink.data.build_loaders", _api("torchshrink.engine.FitConfig"))), r"expected a DataConfig config, got a FitConfig; pass DataConfig\(\.\.\.\)"),
    Case("create-model-none", "create_model(None)", lib(lambda tmp: _api("torchshrink.models.create_model", None)), r"create_model's name: expected a name such as 'resnet20', got None"),
    Case("create-model-number", "create_model(20)", lib(lambda tmp: _api("torchshrink.models.create_model", 20)), r"create_model's name: expected a name such as 'resnet20', got the int 20"),
    Case("tv-width", "create_model('tv:resnet18', width=0.5): a torchvision model without a width option", lib(lambda tmp: _api("torchshrink.models.create_model", "tv:resnet18", width=0.5)), r"torchvision model 'resnet18' has no width option \(width=0\.5\); pick a smaller model of its family, or narrow it with structured pruning"),
    Case("tv-width-pretrained", "a narrower torchvision MobileNet with pretrained weights", lib(lambda tmp: _api("torchshrink.models.create_model", "tv:mobilenet_v2", width=0.5, pretrained=True)), r"pretrained weights of 'tv:mobilenet_v2' exist at width 1\.0 only \(width=0\.5\); pass pretrained=False"),
    Case("token-model-in-channels", "in_channels for a token-id model", lib(lambda tmp: _api("torchshrink.models.create_model", "lstm_text", in_channels=1)), r"model 'lstm_text' reads token ids, so it takes no in_channels \(got 1\); leave in_channels out"),
    Case("measure-token-model-float", "measure of a token-id model on float inputs", cli("measure", "--model", "lstm_text", "--input-shape", "16", "--no-latency"), r"the model reads token ids but the example inputs are float32 \(1, 16\); pass integer inputs \(torch\.long; on the command line --input-dtype long\)"),
    Case("save-model-to-folder", "save_model to a folder", lib(lambda tmp: _api("torchshrink.models.save_model", _tiny(), tmp)), r"save_model's path '.*' is a folder, not a file; give a file path inside it \(e\.g\. '.*model\.pt'\)"),
    Case("save-model-no-path", "save_model with no path", lib(lambda tmp: _api("torchshrink.models.save_model", _tiny(), None)), r"save_model's path: expected a file path such as 'model\.pt', got None"),
    Case("save-model-below-file", "save_model to a path below a file", lib(lambda tmp: _api("torchshrink.models.save_model", _tiny(), Path(_write(tmp, "afile", "x")) / "m.pt")), r"save_model's path '.*afile/m\.pt' is below '.*afile', which is a file, not a folder; choose another path"),
    Case("save-model-not-a-module", "save_model given a state dict", lib(lambda tmp: _api("torchshrink.models.save_model", _tiny().state_dict(), tmp / "m.pt")), r"save_model's model: expected a torch\.nn\.Module, got a OrderedDict"),
    # ---- an int8 model where a float one is needed (checks.check_float)
    Case("prune-int8", "prune_ of an int8 model", lib(lambda tmp: _transform_int8("prune", tmp)), r"this model is already int8 \(quantized\); prune the float model it was quantized from"),
    Case("magnitude-int8", "magnitude_prune_ of an int8 model", lib(lambda tmp: _transform_int8("magnitude", tmp)), r"this model is already int8 \(quantized\); prune the float model it was quantized from"),
    Case("quantize-int8", "quantize_ptq of an int8 model", lib(lambda tmp: _transform_int8("quantize", tmp)), r"this model is already int8 \(quantized\); quantize the float model it was quantized from"),
    Case("lowbit-int8", "k-bit weights for an int8 model", lib(lambda tmp: _transform_int8("lowbit", tmp)), r"this model is already int8 \(quantized\); quantize the float model"),
    Case("factorize-int8", "factorize_ of an int8 model", lib(lambda tmp: _transform_int8("factorize", tmp)), r"this model is already int8 \(quantized\); factorize the float model it was quantized from"),
    Case("structure-int8", "structure_ of an int8 model", lib(lambda tmp: _transform_int8("structure", tmp)), r"this model is already int8 \(quantized\); structure the float model it was quantized from"),
    Case("transfer-int8", "transfer_filters_ of an int8 model", lib(lambda tmp: _transform_int8("transfer", tmp)), r"this model is already int8 \(quantized\); transfer the filters of the float model"),
    Case("prune-cli-int8", "torchshrink prune of an int8 model file", lambda tmp: ["prune", _int8_file(tmp), "--data", "synthetic", "--out", str(tmp / "p"), "--no-progress"], r"this model is already int8 \(quantized\); prune the float model it was quantized from \(the model file given to `torchshrink quantize`\)"),
    Case("quantize-cli-int8", "torchshrink quantize of an int8 model file", lambda tmp: ["quantize", _int8_file(tmp), "--data", "synthetic", "--out", str(tmp / "q"), "--no-progress", "--engine", "x86"], r"this model is already int8 \(quantized\); quantize the float model"),
    Case("factorize-cli-int8", "torchshrink factorize of an int8 model file", lambda tmp: ["factorize", _int8_file(tmp), "--data", "synthetic", "--out", str(tmp / "f"), "--no-progress"], r"this model is already int8 \(quantized\); factorize the float model"),
    # ---- wrong diagnoses and silent acceptance, second round
    Case("prune-ratio-zero", "prune --ratio 0", lambda tmp: ["prune", _model_file(tmp), "--ratio", "0", "--data", "synthetic", "--out", str(tmp / "p")], r"ratio: must be in \(0, 1\) \(the fraction of channels removed, e\.g\. 0\.3\), got 0\.0; leave ratio and macs out to keep half the MACs"),
    Case("kd-temperature-zero-cli", "distill --set options.temperature=0", lambda tmp: ["distill", "--teacher", _model_file(tmp), "--data", "synthetic", "--out", str(tmp / "d"), "--set", "options.temperature=0"], r"distillation method 'kd' option temperature: must be a positive number \(the softmax divides by it\), got 0"),
    Case("distill-unknown-option-cli", "distill --set with a misspelled distiller option", lambda tmp: ["distill", "--teacher", _model_file(tmp), "--data", "synthetic", "--out", str(tmp / "d"), "--set", "options.tempertaure=4"], r"distillation method 'kd' has no option 'tempertaure' \(did you mean 'temperature'\?\)"),
    Case("nproc-zero", "--nproc 0", train("--nproc", "0"), r"--nproc must be >= 1 \(the number of processes\), got 0; leave it out for one process"),
    Case("nproc-negative", "--nproc -1", train("--nproc", "-1"), r"--nproc must be >= 1 \(the number of processes\), got -1; leave it out for one process"),
    Case("quantize-nproc-zero", "quantize --nproc 0", lambda tmp: ["quantize", _model_file(tmp), "--data", "synthetic", "--out", str(tmp / "q"), "--nproc", "0"], r"--nproc must be >= 1 \(the number of processes\), got 0; leave it out for one process"),
    Case("train-size-too-large", "a training size larger than the data set", train("--train-size", "100000"), r"data\.train_size: 100000 is more than the 512 training images of data set 'synthetic'; use at most 512 \(0 means all\)"),
    Case("eval-test-size-too-large", "eval --test-size larger than the test set", lambda tmp: ["eval", _model_file(tmp), "--data", "synthetic", "--test-size", "5000"], r"data\.test_size: 5000 is more than the 128 test images of data set 'synthetic'; use at most 128"),
    Case("recipe-train-size-too-large", "a recipe asking for more training images than there are", recipe({"data": {"name": "synthetic", "train_size": 9999}, "model": {"name": "resnet8"}, "steps": [{"train": {}}]}), r"data: data\.train_size: 9999 is more than the 512 training images"),
    Case("config-duplicate-key", "a config file giving one key twice", lambda tmp: train("--config", _write(tmp, "dup.yaml", "data:\n  name: synthetic\ndata:\n  name: cifar10\n"))(tmp), r"dup\.yaml' gives the key 'data' twice \(lines 1 and 3\); keep one of them"),
    Case("config-duplicate-nested-key", "a config file giving one nested key twice", lambda tmp: train("--config", _write(tmp, "dup.yaml", "train:\n  epochs: 1\n  epochs: 30\n"))(tmp), r"dup\.yaml' gives the key 'epochs' twice \(lines 2 and 3\)"),
    Case("recipe-duplicate-key", "a recipe giving one key twice", lambda tmp: ["run", _write(tmp, "r.yaml", "data: {name: synthetic}\nmodel: {name: resnet8}\nsteps: [{train: {lr: 0.1, lr: 0.5}}]\n"), "--dry-run"], r"r\.yaml' gives the key 'lr' twice \(lines 3 and 3\)"),
    Case("override-duplicate-key", "--set with a value giving one key twice", train("--set", "data={name: synthetic, name: cifar10}"), r"override 'data=\{name: synthetic, name: cifar10\}' gives the key 'name' twice; keep one of them"),
    Case("compare-same-run-twice", "compare of one run given twice", lambda tmp: _compare_twice(tmp, "{run}"), r"run folder '.*r1' is the same as '.*r1'; give each run once"),
    Case("compare-same-run-other-path", "compare of one run under two spellings", lambda tmp: _compare_twice(tmp, "{run}/../r1"), r"run folder '.*r1/\.\./r1' is the same as '.*r1'; give each run once"),
    Case("compare-empty-run", "compare of a run folder whose stages.json lists no stages", lambda tmp: ["compare", _write(tmp, "stages.json", '{"name": "r", "stages": []}').rsplit("/", 1)[0], "--out", str(tmp / "cmp")], r"has a damaged or empty stages\.json \(no measured stages\); run the recipe again with `torchshrink run`"),
    Case("compare-damaged-run", "compare of a run folder whose stages.json is cut short", lambda tmp: ["compare", _write(tmp, "stages.json", '{"name": "r", "stag').rsplit("/", 1)[0], "--out", str(tmp / "cmp")], r"has a damaged or empty stages\.json"),
    # ---- file systems (io.py: output_problem, make_folder)
    Case("out-below-a-file", "--out below a file", lambda tmp: train("--out", str(Path(_write(tmp, "afile", "x")) / "run"))(tmp), r"output path '.*afile/run' is below '.*afile', which is a file, not a folder; choose another --out"),
    Case("out-name-too-long", "--out with a name longer than the file system allows", lambda tmp: train("--out", str(tmp / ("r" * 300)))(tmp), r"has a name of 300 bytes \('rrrrrrrrrrrrrrrr'\.\.\.\), longer than the 255 this file system allows; choose a shorter name"),
    Case("out-under-proc", "--out under /proc", train("--out", "/proc/torchshrink-run"), r"output path '/proc/torchshrink-run' is under '/proc', a virtual file system \(proc\) that cannot hold files; choose another --out on a real disk") if os.path.ismount("/proc") else None,
    Case("out-under-sys", "--out under /sys", train("--out", "/sys/torchshrink-run"), r"'/sys/torchshrink-run' is under '/sys', a virtual file system \(sysfs\)") if os.path.ismount("/sys") else None,
    Case("out-read-only", "--out on a read-only file system", _read_only_out, r"cannot write '.*ro/run': '.*ro' is a read-only file system; choose another --out on a writable disk") if _unshare_ok() else None,
    Case("compare-out-below-a-file", "compare --out below a file", lambda tmp: ["compare", _finished_run(tmp), "--out", str(Path(_write(tmp, "afile", "x")) / "cmp")], r"is below '.*afile', which is a file, not a folder"),
    Case("advise-out-below-a-file", "advise --out below a file", lambda tmp: ["advise", "--model", "resnet8", "--data", "synthetic", "--out", str(Path(_write(tmp, "afile", "x")) / "recipe.yaml")], r"output file '.*afile/recipe\.yaml' is below '.*afile', which is a file, not a folder; choose another path"),
    Case("quantize-out-under-proc", "quantize --out under /proc", lambda tmp: ["quantize", _model_file(tmp), "--data", "synthetic", "--out", "/proc/q"], r"'/proc/q' is under '/proc', a virtual file system") if os.path.ismount("/proc") else None,
    # ---- two runs into one folder (engine/rundir.py: the run-folder lock)
    Case("out-in-use", "train into a run folder another run is writing", lambda tmp: _holding(tmp, ["train", "--model", "resnet8", *SYN, "--out", str(tmp / "run")]), r"output folder '.*run' is in use by another torchshrink run \(process \d+\); wait for it to finish, or choose another --out"),
    Case("out-in-use-overwrite", "--overwrite of a run folder another run is writing", lambda tmp: _holding(tmp, ["train", "--model", "resnet8", *SYN, "--out", str(tmp / "run"), "--overwrite"]), r"is in use by another torchshrink run"),
    Case("recipe-out-in-use", "a recipe run into a folder another run is writing", lambda tmp: _holding(tmp, [a for a in recipe({**BASE_RECIPE, "steps": [{"evaluate": {}}]})(tmp) if a != "--dry-run"][:2] + ["--out", str(tmp / "run"), "--no-progress"]), r"output folder '.*run' is in use by another torchshrink run"),
]
CASES = [c for c in CASES if c is not None]


def run_case(case: Case, tmp: Path, made: Any = None) -> tuple[str, str]:
    """('cli'|'lib', the message); fails if the mistake does not end in one clear error."""
    from torchshrink.cli import main
    from torchshrink.errors import TorchshrinkError

    from torchshrink.errors import TorchshrinkWarning

    try:
        made = case.make(tmp) if made is None else made
        if isinstance(made, Warned):  # (by name: a doctest run may have imported torchshrink.errors a second time)
            with pytest.warns(UserWarning) as rec:
                made()
            found = [str(w.message) for w in rec if w.category.__name__ == TorchshrinkWarning.__name__]
            assert len(found) == 1, found
            return "warn", found[0]
        if callable(made):
            with pytest.raises(TorchshrinkError) as e:
                made()
            return "lib", str(e.value)
        if isinstance(made, Shell):
            import subprocess

            r = subprocess.run(made.argv, capture_output=True, text=True, timeout=300)
            rc, text = r.returncode, r.stderr
        else:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = main(made)
            text = err.getvalue()
    finally:
        while HOLDERS:
            p = HOLDERS.pop()
            p.kill()
            p.wait()
    assert rc == 2, f"exit status {rc}; stderr: {text[-500:]}"
    assert "Traceback" not in text
    lines = [ln[len("torchshrink: error: "):] for ln in text.splitlines() if ln.startswith("torchshrink: error: ")]
    if len(lines) == 2 and re.fullmatch(r"recipe .* has 1 problem:", lines[0]):  # the file, then its one problem
        lines = [lines[1]]
    assert len(lines) == 1, text
    return "cli", lines[0]


def test_catalogue_has_at_least_150_distinct_mistakes():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mistake_ends_in_one_clear_sentence(case, tmp_path):
    kind, message = run_case(case, tmp_path)
    assert "\n" not in message.strip(), message
    assert re.search(case.expect, message), f"{message!r} does not match {case.expect!r}"


def test_docs_table_lists_every_case():
    doc = (ROOT / "docs" / "bad_inputs.md").read_text()
    missing = [c.id for c in CASES if f"`{c.id}`" not in doc]
    assert not missing, f"add these rows to docs/bad_inputs.md (regenerate it, see this file's docstring): {missing}"


def _markdown() -> str:
    import tempfile

    rows = []
    for c in CASES:
        with tempfile.TemporaryDirectory() as d:
            made = c.make(Path(d))
            shown = ("`torchshrink " + " ".join(made).replace(d, "TMP") + "`") if isinstance(made, list) else \
                f"`{made.shown}`" if isinstance(made, Shell) else "library call (a warning)" if isinstance(made, Warned) \
                else "library call"
            try:
                kind, msg = run_case(c, Path(d), made)
                msg = msg.replace(d, "TMP")
            except BaseException as e:  # noqa: BLE001  (shown so the table never hides a failing case)
                msg = f"NOT YET CLEAR: {type(e).__name__}: {str(e).splitlines()[0][:150] if str(e) else ''}"
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        rows.append(f"| `{c.id}` | {cell(c.what)}: {cell(shown)} | {cell(msg)} | "
                    f"`tests/reliability/test_bad_inputs.py::test_mistake_ends_in_one_clear_sentence[{c.id}]` |")
    head = ("# Bad inputs and what torchshrink says\n\n"
            "Every user mistake below ends in one clear sentence that names the fix: the CLI prints one line "
            "`torchshrink: error: ...` and exits with status 2; the library raises `TorchshrinkError`. A few "
            "rows are allowed but probably not meant: those warn (`TorchshrinkWarning`, printed by the CLI as "
            "`torchshrink: warning: ...`) and go on. Each row is "
            "a test case; the table is generated from them by\n`.venv/bin/python tests/reliability/test_bad_inputs.py "
            "> docs/bad_inputs.md`.\n\nTMP stands for a temporary folder.\n\n"
            f"{len(CASES)} mistakes.\n\n| case | input | message | test |\n|---|---|---|---|\n")
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.stdout.write(_markdown())
