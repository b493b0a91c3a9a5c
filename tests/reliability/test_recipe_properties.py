"""Property-based tests (hypothesis) of the recipe loader: any mapping ends in a list of one-line problems.

``validate_recipe``/``parse_recipe`` never raise, whatever the mapping or step list holds; each problem is one
visible line that says where (``steps[i] NAME``, ``data.``...) it is; recipes built only from valid parts (real
steps in a possible order, settings within range) have no problems; and a valid recipe with one wrong value
is reported with that step's position.
"""
from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torchshrink.pipeline.steps  # noqa: F401  (registers the built-in steps)
from torchshrink.pipeline.recipe import STEPS, _TOP_KEYS, parse_recipe, validate_recipe

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STEP_NAMES = sorted(n for n in STEPS.names() if not n.startswith("_"))
FIELDS = sorted({f for n in STEP_NAMES for f in STEPS.get(n).setting_names()} | {"label", "branch", "step"})
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=8))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                         max_leaves=8)
key = st.sampled_from(FIELDS) | st.text(max_size=6)
settings_dicts = st.dictionaries(key, json_like, max_size=4)
step_name = st.sampled_from(STEP_NAMES) | st.sampled_from(["prun", "Train", "quantise", "", "a\nb", "x\r", " train", "1"]) | st.text(max_size=8)
any_step = st.one_of(
    st.builds(lambda n, s: {n: s}, step_name, settings_dicts | st.none() | json_like),  # - NAME: {settings}
    st.builds(lambda n, s: {"step": n, **s}, step_name | json_like, settings_dicts),   # - {step: NAME, ...}
    step_name,                                                                            # - NAME
    json_like)                                                                            # anything else
any_source = json_like | st.fixed_dictionaries({}, optional={"name": st.sampled_from(["resnet8", "resnet21", "tv:resnet18"]) | json_like,
                                                             "path": st.text(max_size=10) | json_like,
                                                             "kwargs": json_like})
any_recipe = st.dictionaries(
    st.sampled_from(sorted(_TOP_KEYS)) | st.text(max_size=6) | st.integers(-3, 3),
    json_like, max_size=4).flatmap(lambda top: st.fixed_dictionaries(
        {}, optional={"steps": st.lists(any_step, max_size=5) | json_like, "model": any_source, "teacher": any_source,
                      "data": st.dictionaries(key | st.sampled_from(["name", "batch_size", "train_size"]), json_like, max_size=3)
                      | st.just({"name": "synthetic"})}).map(lambda d: {**top, **d}))


def _check_lines(problems: list[str]) -> None:
    assert isinstance(problems, list)
    for p in problems:
        assert isinstance(p, str) and p.strip(), problems
        assert "\n" not in p and "\r" not in p, p  # one line each, so the CLI prints one 'torchshrink: error:' per problem
        assert "Traceback" not in p and ": " in p, p


@SETTINGS
@given(any_recipe)
def test_any_mapping_gives_one_line_problems_and_never_raises(data):
    _check_lines(validate_recipe(data, check_data=False))
    collected: list[str] = []
    parse_recipe(data, collected)
    _check_lines(collected)


@SETTINGS
@given(st.lists(any_step, min_size=1, max_size=6))
def test_any_step_list_gives_one_line_problems_that_say_which_step(steps):
    problems = validate_recipe({"data": {"name": "synthetic"}, "model": {"name": "resnet8"}, "steps": steps},
                               check_data=False)
    _check_lines(problems)
    for p in problems:
        assert p.startswith(("steps", "model", "teacher")), p


# ---- valid recipes: real steps, in a possible order, with settings inside their ranges
def _config(name: str) -> type:
    """The settings class a step parses into when no ``method`` is given (a family step: its default method's)."""
    info = STEPS.get(name)
    if dataclasses.is_dataclass(info.config):
        return info.config
    return type(info.parse({}, []))


def _valid_settings(name: str):
    """A few of the step's own settings, each either its default or a value inside its range."""
    fields = {f.name: f for f in dataclasses.fields(_config(name))}
    ranged = {"epochs": st.integers(1, 50), "lr": st.floats(1e-5, 1.0), "weight_decay": st.floats(0, 0.01),
              "momentum": st.floats(0, 0.99), "warmup_epochs": st.floats(0, 3), "label_smoothing": st.floats(0, 0.5),
              "ratio": st.floats(0.05, 0.9), "bits": st.just(8), "energy": st.floats(0.5, 0.99),
              "repeats": st.integers(1, 50), "batch_size": st.integers(1, 256), "optimizer": st.sampled_from(["sgd", "adamw"]),
              "schedule": st.sampled_from(["cosine", "step", "constant"])}
    simple = sorted(k for k, f in fields.items()
                    if f.default is not dataclasses.MISSING and k not in ("target", "path", "overwrite", "device",
                                                                         "engine", "format"))

    def value(k: str):
        return ranged[k] if k in ranged else st.just(fields[k].default)

    return st.lists(st.sampled_from(simple), unique=True, max_size=4).flatmap(
        lambda ks: st.fixed_dictionaries({k: value(k) for k in ks})) if simple else st.just({})


label = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=12)


def _with_label(name: str, can_branch: bool):
    return st.tuples(_valid_settings(name), st.none() | label, st.booleans() if can_branch else st.just(False)).map(
        lambda t: {name: {**t[0], **({"label": t[1]} if t[1] is not None else {}), **({"branch": True} if t[2] else {})}})


MODEL_STEPS = [n for n in STEP_NAMES if not STEPS.get(n).flag("quantizes", STEPS.get(n).parse({}, []))
               and STEPS.get(n).makes_model and STEPS.get(n).missing() is None]
LOOK_STEPS = [n for n in STEP_NAMES if STEPS.get(n).after_quantize and n != "export"]
valid_recipe = st.tuples(
    st.lists(st.sampled_from(MODEL_STEPS + LOOK_STEPS).flatmap(lambda n: _with_label(n, STEPS.get(n).makes_model)),
             max_size=4),
    st.booleans(),
    st.lists(st.sampled_from(LOOK_STEPS).flatmap(lambda n: _with_label(n, False)), max_size=2),
    st.booleans(),
).map(lambda t: {"data": {"name": "synthetic", "train_size": 64, "test_size": 32}, "seed": 0,
                 "model": {"name": "resnet8", "kwargs": {"width": 0.25}}, "teacher": {"name": "resnet8"},
                 "steps": [{"train": {"target": "teacher", "epochs": 1}}, *t[0],
                           *([{"quantize": {}}, *t[2]] if t[1] else []), *([{"export": {}}] if t[3] else [])]})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_recipe)
def test_valid_recipes_have_no_problems(data):
    assert validate_recipe(data, check_data=False) == []
    r = parse_recipe(data, [])
    assert [s.index for s in r.steps] == list(range(1, len(data["steps"]) + 1))
    assert len({s.label for s in r.steps}) == len(r.steps)  # repeated labels are numbered, so stages stay apart


@settings(max_examples=5, deadline=None)
@given(valid_recipe)
def test_valid_recipes_pass_the_data_and_model_checks_too(data):
    assert validate_recipe(data, check_data=True) == []


@SETTINGS
@given(valid_recipe, st.data())
def test_one_wrong_value_is_reported_at_its_step(data, draw):
    steps = data["steps"]
    i = draw.draw(st.integers(0, len(steps) - 1))
    (name, s), = steps[i].items()
    bad_key, bad = draw.draw(st.sampled_from([("epochs", 0), ("lr", -1.0), ("ratio", 7), ("label_smoothing", 2.0),
                                              ("unknown_setting", 1), ("branch", "maybe")]))
    steps[i] = {name: {**s, bad_key: bad}}
    problems = validate_recipe(data, check_data=False)
    _check_lines(problems)
    fields = {f.name for f in dataclasses.fields(_config(name))} | {"branch"}
    if bad_key in fields and bad_key not in ("epochs", "lr", "ratio", "label_smoothing", "branch"):
        return
    if bad_key == "branch" and not STEPS.get(name).makes_model:
        assert problems  # 'maybe' is not a yes/no either way
        return
    if bad_key in ("epochs", "lr", "ratio", "label_smoothing") and bad_key not in fields:
        bad_key = "unknown"  # a setting this step does not have is reported as unknown
    assert any(p.startswith(f"steps[{i + 1}] {name}:") for p in problems), (steps[i], problems)
