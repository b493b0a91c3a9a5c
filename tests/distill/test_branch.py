"""The branch design: S and assistants as channel groups of one network, trained by every schedule, fused into
the reference architecture with the same outputs, S never reading an assistant."""
import pytest
import torch

from torchshrink.distill import ResidualConfig, train_residual
from torchshrink.distill.residual import ResidualAssistant, ResidualBlock, ResidualStudentL2, ResidualTune, \
    StudentView, baseline_on_student, build_pair, progressive_connectors
from torchshrink.engine import FitConfig, OptimConfig
from torchshrink.errors import ConfigError
from torchshrink.measure import count_macs, count_params
from torchshrink.models import create_model, load_model, save_model
from torchshrink.models.residual_branch import fuse_branch, group_sizes

SHAPE = (1, 8, 8)


def teacher(seed=0):
    torch.manual_seed(seed)
    return create_model("resnet8", 4, 1)


def branch(t, fractions=(0.25,)):
    return build_pair(t, {"name": "resnet8"}, design="branch", assistants=list(fractions))


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 4, (n,), generator=g)


def steps(task, n=4, lr=0.05):
    x, y = batch()
    opt = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    task.train()
    first = sum(task.forward_train(x, y)[1].values()).item()
    for _ in range(n):
        opt.zero_grad()
        sum(task.forward_train(x, y)[1].values()).backward()
        opt.step()
    last = sum(task.forward_train(x, y)[1].values()).item()
    assert last < first, (type(task).__name__, first, last)


def test_group_sizes_and_bad_fractions():
    assert group_sizes(64, [0.25]) == [48, 16] and group_sizes(16, [0.1, 0.1]) == [12, 2, 2]
    with pytest.raises(ConfigError, match="smaller fractions"):
        group_sizes(4, [0.5, 0.5])


def test_student_never_reads_an_assistant_and_starts_alone():
    t = teacher()
    pair = branch(t, (0.25, 0.125)).eval()
    x, _ = batch()
    with torch.no_grad():
        s0 = pair.student_features(x).clone()
        both = pair(x)
        assert torch.allclose(both, pair.forward_head(s0), atol=1e-6)  # assistants' connectors start at zero
        for g in (1, 2):
            for m in pair.group_parts(g):
                for p in m.parameters():
                    p.add_(torch.randn_like(p))
        assert torch.equal(pair.student_features(x), s0)       # S is unchanged by any assistant weight
        assert not torch.allclose(pair(x), both)               # ... while the assistants now add something


def test_fused_is_the_reference_architecture_with_the_same_outputs(tmp_path):
    t = teacher()
    pair = branch(t)
    # train a little so BN statistics and weights are not at their initial values
    steps(ResidualStudentL2(pair, t, feature_weight=10.0), n=2)
    steps(ResidualAssistant(pair, t, feature_weight=10.0), n=2)
    pair.eval()
    fused = fuse_branch(pair)
    ref = create_model("resnet8", 4, 1)
    assert type(fused) is type(ref) and fused.torchshrink_arch == ref.torchshrink_arch
    assert [p.shape for p in fused.parameters()] == [p.shape for p in ref.parameters()]
    assert count_params(fused) == count_params(ref) and count_macs(fused, SHAPE) == count_macs(ref, SHAPE)
    x, _ = batch()
    with torch.no_grad():
        assert torch.allclose(fused(x), pair(x), atol=1e-4)
    # the conv weights are block lower-triangular: S's outputs read no assistant input
    w = fused.layer2[0].conv1.weight
    s_out, s_in = group_sizes(32, [0.25])[0], group_sizes(16, [0.25])[0]
    assert torch.count_nonzero(w[:s_out, s_in:]) == 0 and torch.count_nonzero(w[s_out:, s_in:]) > 0
    # the training form saves and loads too
    save_model(pair, tmp_path / "pair.pt")
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "pair.pt").eval()(x), pair(x), atol=1e-6)


def test_every_phase_trains_only_its_group():
    t = teacher()
    pair = branch(t, (0.25, 0.125))
    s_state = {k: v.clone() for k, v in pair.state_dict().items()}
    steps(ResidualAssistant(pair, t, group=2, feature_weight=10.0, kd_weight=1.0))
    moved = {k for k, v in pair.state_dict().items() if not torch.equal(s_state[k], v)}
    assert moved and all(".parts.2." in k or k.startswith("connectors.2.") for k in moved), sorted(moved)[:5]
    steps(ResidualTune(pair, t, feature_weight=1.0))
    conns = progressive_connectors(pair, t, SHAPE)
    for k, g in ((0, 0), (1, 1), (2, 2)):
        steps(ResidualBlock(pair, t, k, g, conns, feature_weight=10.0, kd_weight=1.0), n=3)
    steps(baseline_on_student(pair, t, "at", SHAPE))
    steps(baseline_on_student(pair, t, "dist", SHAPE))


def test_train_residual_on_the_branch_design_records_each_phase():
    from torchshrink.data import DataConfig, build_loaders

    L = build_loaders(DataConfig(name="synthetic", train_size=64, test_size=32, batch_size=32, eval_batch_size=32))
    t = create_model("resnet8", L.num_classes, 1)
    cfg = FitConfig(epochs=1, optim=OptimConfig(lr=0.05, schedule="constant"))
    seen = []
    for rc in (ResidualConfig(kd_weight=1.0, tune_epochs=1), ResidualConfig(mode="m2"), ResidualConfig(mode="m3")):
        pair = build_pair(t, {"name": "resnet8"}, design="branch", assistants=[0.25, 0.125])
        rec = train_residual(pair, t, L.train, None, cfg, rc, progress=False,
                             after_phase=lambda name, p: seen.append((name, p.training)))
        assert [p[0] for p in rec["phases"]][-1] in ("tune", "assistant2.3", "joint")
    assert ("tune", False) in seen and ("assistant2", False) in seen
    assert isinstance(StudentView(pair)(torch.zeros(2, 1, 16, 16)), torch.Tensor)


def test_latency_split_pair_measured_no_slower_than_its_reference():
    """budget='latency' times the deployed pair against the reference, interleaved, and records the numbers."""
    from torchshrink.distill.split import split_architecture

    r = split_architecture("resnet8", 4, 1, SHAPE, features=64, ratio=0.25, design="branch", budget="latency",
                           batch_size=8, repeats=30, latency_tolerance=2.0, threads=1)
    lat = r.latency
    assert r.budget == "latency" and r.pair_macs <= r.budget_macs and r.pair_params <= r.budget_params
    assert lat["pair_ms_b1"] > 0 and lat["reference_ms_b1"] > 0
    # the fused pair is the reference architecture: timing noise aside, it cannot be slower (generous bound, on the
    # fastest tenth of the runs, which a loaded machine disturbs least)
    assert lat["ratio_p10_b1"] <= 1.5 and lat["ratio_p10_bn"] <= 1.5
    assert "latency" in r.summary() and r.record()["latency"] == lat
    # the separate design under the same budget is searched by timing too (it may fit only when much narrower)
    try:
        s = split_architecture("resnet8", 4, 1, SHAPE, features=64, ratio=0.25, budget="latency", batch_size=8,
                               repeats=10, latency_tolerance=0.5, threads=1, step=0.2)
    except ConfigError as e:
        assert "measured latency" in str(e)
    else:
        assert s.latency["ratio_b1"] <= 1.5 and s.pair_macs <= s.budget_macs


def test_default_method_choices_are_recorded_in_the_saved_model(tmp_path):
    from torchshrink.data import DataConfig, build_loaders
    from torchshrink.distill import DEFAULT, DEFAULT_SPLIT, distill_residual

    L = build_loaders(DataConfig(name="synthetic", train_size=32, test_size=16, batch_size=16, eval_batch_size=16))
    t = create_model("resnet8", L.num_classes, 1)
    cfg = FitConfig(epochs=1, optim=OptimConfig(lr=0.05, schedule="constant"))
    model, rec = distill_residual(t, {"name": "resnet8"}, L.train, L.val, L.input_shape, cfg, "residual",
                                  progress=False, log=lambda m: None,
                                  overrides={"tune_epochs": 1, "assistant_epochs": 1})
    save_model(model, tmp_path / "m.pt")
    meta = load_model(tmp_path / "m.pt").torchshrink_meta["residual_kd"]
    assert meta["method"] == "residual" and meta["split"]["design"] == DEFAULT_SPLIT["design"]
    want = {**DEFAULT.__dict__, "tune_epochs": 1, "assistant_epochs": 1}
    assert meta["config"] == want
    assert meta["config"]["tune_loss"] == DEFAULT.tune_loss and meta["config"]["tune_lr"] == DEFAULT.tune_lr
    assert [p[:2] for p in meta["phases"]] == [["student", 1], ["assistant", 1], ["tune", 1]]
    assert meta["split"]["assistants"] and meta["split"]["pair_macs"] == meta["split"]["budget_macs"]


def test_dist_as_the_logit_loss_of_the_fine_tuning_and_the_l2_phases():
    """tune_loss/logit_loss "dist" put DIST's loss (beta = gamma = 2) on fc(summed features) in KD's place."""
    from torchshrink.distill.losses import dist_loss, kd_loss

    t = teacher()
    pair = branch(t)
    x, y = batch()
    task = ResidualTune(pair, t, feature_weight=0.0, kd_weight=3.0, temperature=2.0, logit="dist")
    _, losses = task.forward_train(x, y)
    with torch.no_grad():
        logits, t_logits = pair(x), t(x)
    assert sorted(losses) == ["ce", "dist"]
    assert torch.allclose(losses["dist"], 3.0 * dist_loss(logits, t_logits, 2.0, 2.0, 2.0), atol=1e-5)
    assert not torch.allclose(losses["dist"], 3.0 * kd_loss(logits, t_logits, 2.0), atol=1e-3)
    steps(task)
    s_task = ResidualStudentL2(pair, t, kd_weight=1.0, logit="dist")
    assert sorted(s_task.forward_train(x, y)[1]) == ["dist", "student"]
    steps(s_task)
    with pytest.raises(ConfigError, match="logit loss"):
        ResidualTune(pair, t, logit="mse")
    assert ResidualConfig(tune_loss="mse").validate() and ResidualConfig(logit_loss="kl").validate()
    assert not ResidualConfig(tune_loss="dist", logit_loss="dist").validate()


def test_tune_loss_reaches_the_schedule_and_the_method_options():
    from torchshrink.distill.method import DistillConfig
    from torchshrink.distill.residual import _phases

    t = teacher()
    pair = branch(t)
    cfg = ResidualConfig(kd_weight=1.0, assistant_epochs=2, tune_epochs=3, tune_loss="dist")
    phases = _phases(pair, t, cfg, 5, SHAPE, None)
    assert [(p[0], p[2]) for p in phases] == [("student", 5), ("assistant", 2), ("tune", 3)]
    tune = phases[-1][1]()
    assert tune.logit == "dist" and phases[0][1]().logit == "kd"
    assert DistillConfig(method="residual", tune_loss="dist").residual_config().tune_loss == "dist"
    assert DistillConfig(method="residual", tune_loss="kl").validate()


def test_phase_lengths_as_fractions_of_the_epochs():
    """student_scale/assistant_scale/tune_scale set the phases' lengths when their epochs are 0; epochs win."""
    from torchshrink.distill.method import DistillConfig
    from torchshrink.distill.residual import _phases

    t = teacher()
    pair = branch(t, (0.25, 0.125))
    cfg = ResidualConfig(kd_weight=1.0, student_scale=0.5, assistant_scale=0.25, tune_scale=1.5)
    assert [(p[0], p[2]) for p in _phases(pair, t, cfg, 8, SHAPE, None)] == \
        [("student", 4), ("assistant1", 2), ("assistant2", 2), ("tune", 12)]
    assert cfg.schedule(6) == {"student": 3, "assistant": 2, "tune": 9, "head": 0}
    assert ResidualConfig(tune_scale=1.5, tune_epochs=3, student_epochs=5).schedule(8)["tune"] == 3
    assert ResidualConfig().schedule(8) == {"student": 8, "assistant": 8, "tune": 0, "head": 0}  # the paper's M.1
    assert ResidualConfig(student_scale=0).validate() and ResidualConfig(tune_scale=-1).validate()
    over = DistillConfig(method="residual", tune_scale=0.0, tune_epochs=0).residual_config().schedule(8)
    assert over["tune"] == 0  # the fine-tuning switched off by its scale
