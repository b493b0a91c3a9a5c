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
    (tmp / "r1").mkdir(exist_ok=True)
    (tmp / "r1" / "stages.json").write_text('{"name": "r1", "batch_size": 8, "stages": []}')
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
    Case("measure-zero-shape", "an input shape with a zero", cli("measure", "--model", "resnet20", "--input-shape", "3", "0", "32", "--no-latency"), r"--input-shape must be three positive numbers"),
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
    Case("prune-ratio-outside", "a pruning ratio of 1.5", lib(lambda tmp: _from_dict("torchshrink.prune.structured.StructuredConfig", {"ratio": 1.5})), r"ratio: must be in \[0, 1\), got 1\.5"),
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
]
CASES = [c for c in CASES if c is not None]


def run_case(case: Case, tmp: Path, made: Any = None) -> tuple[str, str]:
    """('cli'|'lib', the message); fails if the mistake does not end in one clear error."""
    from torchshrink.cli import main
    from torchshrink.errors import TorchshrinkError

    made = case.make(tmp) if made is None else made
    if callable(made):
        with pytest.raises(TorchshrinkError) as e:
            made()
        return "lib", str(e.value)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(made)
    text = err.getvalue()
    assert rc == 2, f"exit status {rc}; stderr: {text[-500:]}"
    assert "Traceback" not in text
    lines = [ln[len("torchshrink: error: "):] for ln in text.splitlines() if ln.startswith("torchshrink: error: ")]
    if len(lines) == 2 and re.fullmatch(r"recipe .* has 1 problem:", lines[0]):  # the file, then its one problem
        lines = [lines[1]]
    assert len(lines) == 1, text
    return "cli", lines[0]


def test_catalogue_has_at_least_30_distinct_mistakes():
    assert len(CASES) >= 30
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
            shown = ("`torchshrink " + " ".join(made).replace(d, "TMP") + "`") if isinstance(made, list) else "library call"
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
            "`torchshrink: error: ...` and exits with status 2; the library raises `TorchshrinkError`. Each row is "
            "a test case; the table is generated from them by\n`.venv/bin/python tests/reliability/test_bad_inputs.py "
            "> docs/bad_inputs.md`.\n\nTMP stands for a temporary folder.\n\n"
            f"{len(CASES)} mistakes.\n\n| case | input | message | test |\n|---|---|---|---|\n")
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.stdout.write(_markdown())
