"""Every method trains a tiny teacher/student pair on synthetic data and its loss falls; taps, export, split."""
import pytest
import torch

from torchshrink.distill import AT, KD, FitNet, FeatureTaps, ResidualConfig, build_pair, make_distiller, train_residual
from torchshrink.distill.residual import ResidualAssistant, ResidualBlock, ResidualJoint, ResidualStudentL2, \
    baseline_on_student, progressive_connectors
from torchshrink.distill.split import split_architecture
from torchshrink.engine import FitConfig, OptimConfig
from torchshrink.errors import ConfigError
from torchshrink.measure import count_macs, count_params
from torchshrink.models import create_model, load_model, save_model

SHAPE = (1, 8, 8)


@pytest.fixture
def tiny():
    from torchshrink.data import DataConfig, build_loaders

    return build_loaders(DataConfig(name="synthetic", train_size=64, test_size=32, batch_size=32, eval_batch_size=32))


def pair_models(seed=0):
    torch.manual_seed(seed)
    t = create_model("resnet8", 4, 1)
    s = create_model("resnet8", 4, 1, width=0.5)
    return t, s


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 4, (n,), generator=g)


def total_loss(task, x, y):
    _, losses = task.forward_train(x, y)
    return sum(losses.values())


def loss_falls(task, steps=4, lr=0.05):
    x, y = batch()
    opt = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    task.train()
    first = total_loss(task, x, y).item()
    for _ in range(steps):
        opt.zero_grad()
        total_loss(task, x, y).backward()
        opt.step()
    last = total_loss(task, x, y).item()
    assert last < first, (type(task).__name__, first, last)


@pytest.mark.parametrize("method", ["kd", "fitnet", "at", "dkd"])
def test_baselines_loss_falls_and_teacher_frozen(method):
    t, s = pair_models()
    task = make_distiller(method, s, t, SHAPE)
    before = {k: v.clone() for k, v in t.state_dict().items()}
    loss_falls(task)
    assert not t.training
    assert all(torch.equal(before[k], v) for k, v in t.state_dict().items())  # weights and BN stats untouched
    assert not any(p.requires_grad for p in t.parameters())


def test_fitnet_regressor_is_trainable_and_counted():
    t, s = pair_models()
    task = FitNet(s, t, SHAPE)
    names = [n for n, p in task.named_parameters() if p.requires_grad]
    assert any(n.startswith("regressor") for n in names)


def test_bad_module_path_lists_nearby_paths():
    t, s = pair_models()
    with pytest.raises(ConfigError, match=r"'layer9' does not exist.*nearby valid paths: layer"):
        AT(s, t, student_layers=["layer9"], teacher_layers=["layer3"])
    with pytest.raises(ConfigError, match=r"layer3\.0\.conv1"):
        FeatureTaps(s, ["layer3.0.conv"])


def test_unmatched_features_name_both_shapes():
    t, s = pair_models()
    with pytest.raises(ConfigError, match=r"student feature \(1, 16, 4, 4\).*teacher feature \(1, 64, 2, 2\)"):
        FitNet(s, t, SHAPE, student_layer="layer2", teacher_layer="layer3")


def test_taps_leave_the_model_unchanged():
    t, s = pair_models()
    task = KD(s, t)
    task.forward_train(*batch(4))
    assert not s._forward_hooks and not t._forward_hooks
    assert all(not m._forward_hooks for m in s.modules())


def test_residual_phases_loss_falls():
    t, _ = pair_models()
    pair = build_pair(t, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.5})
    assert torch.equal(pair.fc.weight, t.fc.weight)
    loss_falls(ResidualStudentL2(pair, t))
    a_before = {k: v.clone() for k, v in pair.student.state_dict().items()}
    loss_falls(ResidualAssistant(pair, t))
    assert all(torch.equal(a_before[k], v) for k, v in pair.student.state_dict().items())  # S frozen in stage 2
    loss_falls(ResidualJoint(pair, t, ce_weight=0.5))
    conns = progressive_connectors(pair, t, SHAPE)
    for k, who in ((0, "student"), (2, "assistant")):
        loss_falls(ResidualBlock(pair, t, k, who, conns), steps=3)
    loss_falls(baseline_on_student(pair, t, "at", SHAPE))
    assert torch.equal(pair.fc.weight, t.fc.weight)  # the classifier stays the teacher's


def test_residual_kd_term_is_the_teacher_classifier_kd_and_falls():
    """kd_weight adds KD between fc(the trained features) and the teacher's logits to every L2 phase."""
    from torchshrink.distill.losses import kd_loss

    t, _ = pair_models()
    pair = build_pair(t, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.5})
    x, y = batch()
    task = ResidualStudentL2(pair, t, kd_weight=2.0, temperature=3.0)
    _, losses = task.forward_train(x, y)
    with torch.no_grad():
        want = 2.0 * kd_loss(pair.forward_head(pair.student_features(x)), t(x), 3.0)
    assert sorted(losses) == ["kd", "student"] and torch.allclose(losses["kd"], want, atol=1e-6)
    loss_falls(task)
    assert "kd" not in ResidualStudentL2(pair, t).forward_train(x, y)[1]  # off by default
    for task in (ResidualAssistant(pair, t, kd_weight=1.0), ResidualJoint(pair, t, kd_weight=1.0)):
        assert "kd" in task.forward_train(x, y)[1]
        loss_falls(task)
    conns = progressive_connectors(pair, t, SHAPE)
    assert "kd" not in ResidualBlock(pair, t, 0, "student", conns, kd_weight=1.0).forward_train(x, y)[1]
    assert "kd" in ResidualBlock(pair, t, 2, "assistant", conns, kd_weight=1.0).forward_train(x, y)[1]
    assert ResidualConfig(kd_weight=-1).validate() and ResidualConfig(temperature=0).validate()


def test_train_residual_all_modes_and_export_equals_training_pair(tiny, tmp_path):
    synth = tiny
    t = create_model("resnet8", synth.num_classes, 1)
    cfg = FitConfig(epochs=1, optim=OptimConfig(lr=0.05, schedule="constant"))
    for mode, base in [("m3", "l2"), ("m1", "kd")]:  # every phase class is also stepped in the test above
        pair = build_pair(t, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.5})
        rec = train_residual(pair, t, synth.train, None, cfg, ResidualConfig(mode=mode, base=base), progress=False)
        assert rec["phases"]
    pair.eval()
    path = tmp_path / "pair.pt"
    save_model(pair, path)
    loaded = load_model(path).eval()
    x = next(iter(synth.test))[0][:8]
    with torch.no_grad():
        assert torch.allclose(loaded(x), pair(x), atol=1e-6)
        summed = pair.forward_head(pair.student_features(x) + pair.assistant_features(x))
        assert torch.allclose(loaded(x), summed, atol=1e-6)
    # the counted cost is S's plus A's plus connectors and the shared classifier, nothing else
    parts = [pair.student, pair.assistant, pair.student_connector, pair.assistant_connector, pair.fc]
    assert count_params(loaded) == sum(count_params(m) for m in parts)


def test_config_rejects_bad_combinations():
    assert ResidualConfig(mode="m4").validate()
    assert ResidualConfig(mode="m3", base="at").validate()
    assert not ResidualConfig(mode="m1", base="at").validate()


@pytest.mark.parametrize("name,features", [("resnet8", 128)])
def test_split_within_budget(name, features):
    r = split_architecture(name, 10, 1, SHAPE, features=features)
    m = create_model(name, 10, 1)
    pair = create_model("residual_pair", num_classes=10, in_channels=1, student=r.student, assistant=r.assistant,
                        features=features or m.num_features)
    assert count_macs(pair, SHAPE) == r.pair_macs <= count_macs(m, SHAPE)
    assert count_params(pair) == r.pair_params <= count_params(m)
    assert 0.03 < r.assistant_ratio <= 0.1 + 1e-9


def test_progressive_prefix_scope_trains_the_blocks_before_k():
    t, _ = pair_models()
    pair = build_pair(t, {"name": "resnet8", "width": 0.5}, {"name": "resnet8", "width": 0.5})
    conns = progressive_connectors(pair, t, SHAPE)
    for scope, first_moves in (("block", False), ("prefix", True)):
        task = ResidualBlock(pair, t, 1, "student", conns, scope=scope)
        before = {k: v.clone() for k, v in pair.student.layer1.state_dict().items()}
        loss_falls(task, steps=3)
        moved = any(not torch.equal(before[k], v) for k, v in pair.student.layer1.state_dict().items())
        assert moved == first_moves, scope
        assert all(not p.requires_grad for p in pair.assistant.parameters())
    assert ResidualConfig(mode="m2", m2_scope="all").validate()
