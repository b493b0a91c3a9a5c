
import pytest

from torchshrink.config import apply_overrides, from_dict, load_yaml
from torchshrink.errors import ConfigError, TorchshrinkError
from torchshrink.engine import FitConfig
from torchshrink.registry import Registry


def test_from_dict_builds_nested_configs():
    cfg = from_dict(FitConfig, {"epochs": 3, "optim": {"lr": 0.2, "milestones": [1, 2]}})
    assert cfg.epochs == 3 and cfg.optim.lr == 0.2 and cfg.optim.milestones == [1, 2]


def test_from_dict_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as e:
        from_dict(FitConfig, {"epochs": "three", "optim": {"lr": -1, "optimiser": "sgd"}, "seeed": 1})
    lines = str(e.value).splitlines()
    assert any(l.startswith("epochs: expected an integer") for l in lines)
    assert any("optim.optimiser: unknown setting (did you mean 'optimizer'?)" in l for l in lines)
    assert any("seeed" in l and "did you mean 'seed'" in l for l in lines)


def test_range_checks_run_after_types():
    with pytest.raises(ConfigError, match="lr: must be a positive number"):
        from_dict(FitConfig, {"optim": {"lr": 0}})


def test_overrides_parse_yaml_values():
    d = apply_overrides({"a": {"b": 1}}, ["a.b=0.5", "a.c=[1, 2]", "d=hello"])
    assert d == {"a": {"b": 0.5, "c": [1, 2]}, "d": "hello"}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])


def test_yaml_errors_are_clear(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")


def test_registry_suggests_names():
    r = Registry("widget")
    r.register("alpha")(lambda: 1)
    with pytest.raises(TorchshrinkError, match="did you mean 'alpha'"):
        r.get("alpah")
    with pytest.raises(ValueError):
        r.register("alpha")(lambda: 2)
