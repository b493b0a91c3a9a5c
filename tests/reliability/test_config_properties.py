"""Property-based tests (hypothesis) of the config loader: any input ends in a config or one ConfigError.

Valid configs survive a round trip through dict/YAML; arbitrary dicts, YAML text, bytes and ``--set``
overrides never raise anything but :class:`ConfigError`; a wrong value is reported with its dotted path.
"""
from __future__ import annotations

import dataclasses
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchshrink.commands.common import TrainSpec
from torchshrink.config import apply_overrides, from_dict, load_yaml, to_dict
from torchshrink.data import DataConfig
from torchshrink.engine import FitConfig, OptimConfig
from torchshrink.errors import ConfigError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=8))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                         max_leaves=8)


def _field_names(cls) -> list[str]:
    names = []
    for f in dataclasses.fields(cls):
        names.append(f.name)
    return names


KEYS = sorted({*_field_names(TrainSpec), *_field_names(DataConfig), *_field_names(FitConfig), *_field_names(OptimConfig),
               "name", "kwargs", "width"})
nested = st.recursive(scalars, lambda c: st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), c, max_size=4),
                      max_leaves=12)

valid_optim = st.builds(
    OptimConfig, optimizer=st.sampled_from(["sgd", "adamw"]), lr=st.floats(1e-6, 10),
    momentum=st.floats(0, 0.99), weight_decay=st.floats(0, 1), schedule=st.sampled_from(["step", "cosine", "constant"]),
    milestones=st.lists(st.integers(1, 100), max_size=3).map(sorted), gamma=st.floats(0.01, 1),
    warmup_epochs=st.floats(0, 5))
valid_fit = st.builds(FitConfig, epochs=st.integers(1, 1000), optim=valid_optim, label_smoothing=st.floats(0, 0.99),
                      clip_grad=st.floats(0, 100), seed=st.integers(0, 2**31), eval_every=st.integers(0, 10))
valid_data = st.builds(DataConfig, name=st.sampled_from(["fashion_mnist", "cifar10", "cifar100", "synthetic"]),
                       batch_size=st.integers(1, 4096), train_size=st.integers(0, 10**6), test_size=st.integers(0, 10**6),
                       val_fraction=st.floats(0, 0.99), augment=st.booleans(), crop_padding=st.integers(0, 8),
                       seed=st.integers(0, 2**31))


@SETTINGS
@given(valid_fit, valid_data, st.sampled_from(["resnet8", "resnet20", "wrn_16_2", "vgg8", "tv:resnet18"]),
       st.integers(0, 16))
def test_valid_configs_round_trip_through_yaml(fit_cfg, data_cfg, model, threads):
    spec = from_dict(TrainSpec, {"model": {"name": model}, "data": to_dict(data_cfg), "train": to_dict(fit_cfg),
                                 "threads": threads})
    again = from_dict(TrainSpec, yaml.safe_load(yaml.safe_dump(to_dict(spec))))
    assert again == spec


@SETTINGS
@given(nested)
def test_any_dict_gives_a_config_or_one_config_error(data):
    if not isinstance(data, dict):
        data = {"train": data}
    try:
        spec = from_dict(TrainSpec, data)
    except ConfigError as e:
        lines = str(e).splitlines()
        assert lines and all(":" in ln and "Traceback" not in ln for ln in lines)
    else:
        assert isinstance(spec, TrainSpec)
        assert not spec.validate() and not spec.train.validate() and not spec.data.validate()
        assert math.isfinite(spec.train.optim.lr) and spec.train.optim.lr > 0


@SETTINGS
@given(st.sampled_from(["train.epochs", "train.optim.lr", "data.batch_size", "data.val_fraction", "train.seed",
                        "data.augment", "train.optim.milestones", "model.name", "threads"]),
       st.one_of(st.text(max_size=6).filter(lambda s: not s.strip().lstrip("-").replace(".", "").isdigit()),
                 st.lists(st.integers(), min_size=1, max_size=2).map(lambda v: {"x": v}),
                 st.sampled_from([math.nan, math.inf, -math.inf])))
def test_a_wrong_value_is_reported_with_its_dotted_path(key, bad):
    if key == "model.name" and isinstance(bad, str):
        bad = {"not": "a name"}
    if key == "train.optim.milestones" and isinstance(bad, str):
        bad = 3.5
    with pytest.raises(ConfigError) as e:
        from_dict(TrainSpec, apply_overrides({}, []) | _nest(key, bad))
    assert key in str(e.value), str(e.value)


def _nest(key: str, value):
    out: dict = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


@SETTINGS
@given(st.lists(st.text(max_size=20), max_size=4))
def test_any_override_strings_give_a_dict_or_one_config_error(items):
    try:
        out = apply_overrides({"train": {"optim": {"lr": 0.1}}, "out": "runs/x"}, items)
    except ConfigError as e:
        assert str(e).strip()
        return
    assert isinstance(out, dict)
    try:
        from_dict(TrainSpec, out)
    except ConfigError:
        pass


@SETTINGS
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60)))
def test_any_file_content_gives_a_mapping_or_one_config_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    try:
        data = load_yaml(path)
    except ConfigError as e:
        assert "c.yaml" in str(e) and "\n" not in str(e)
    else:
        assert isinstance(data, dict)
