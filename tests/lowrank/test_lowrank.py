import copy
import json

import pytest
import torch
import torch.nn as nn

from torchshrink.lowrank import CP, SVD, Bottleneck, DepthwiseSeparable, FactorizeConfig, Tucker2, factorize_
from torchshrink.recover import recover
from torchshrink.lowrank.rank import compression_ranks, energy_ranks, macs_ranks, vbmf_ranks
from torchshrink.lowrank.svd import svd_error_bound
from torchshrink.lowrank.tucker import tucker_error_bound
from torchshrink.models import create_model, load_model, save_model


def _conv(i=8, o=12, k=3, stride=1, bias=True, seed=0):
    torch.manual_seed(seed)
    return nn.Conv2d(i, o, k, stride=stride, padding=k // 2, bias=bias)


@pytest.mark.parametrize("layer, method, ranks, shape", [
    (nn.Linear(20, 12), SVD(), [12], (5, 20)),
    (nn.Conv2d(10, 6, 1, stride=2), SVD(), [6], (2, 10, 7, 7)),
    (_conv(8, 12, stride=2), Tucker2(), [12, 8], (2, 8, 9, 9)),
    (_conv(8, 12, k=5, bias=False), Bottleneck(), [12, 12], (2, 8, 6, 6)),
    (_conv(6, 12), DepthwiseSeparable(), [9], (2, 6, 6, 6)),
])
def test_full_rank_factorization_reproduces_the_layer(layer, method, ranks, shape):
    f = method.decompose(layer, ranks)
    x = torch.randn(*shape)
    assert torch.allclose(f(x), layer(x), atol=1e-4, rtol=1e-4)
    assert torch.allclose(method.reconstruct(f, layer), layer.weight, atol=1e-4)


def test_truncated_svd_is_within_the_discarded_singular_values():
    torch.manual_seed(1)
    lin = nn.Linear(40, 30)
    s = torch.linalg.svdvals(lin.weight.detach())
    for r in (1, 5, 15):
        f = SVD().decompose(lin, [r])
        werr = float((SVD().reconstruct(f, lin) - lin.weight).detach().norm())
        assert werr == pytest.approx(float(s[r:].pow(2).sum().sqrt()), rel=1e-4)
        assert werr == pytest.approx(svd_error_bound(lin, r), rel=1e-4)
        x = torch.randn(16, 40)
        out_err = float((f(x) - lin(x)).detach().norm())
        assert out_err <= float(x.norm() * s[r]) * (1 + 1e-5)  # ||X (W - W_r)^T|| <= ||X|| sigma_{r+1}
        assert out_err > 0


def test_truncated_tucker_is_within_the_hosvd_bound():
    conv = _conv(16, 24, seed=2)
    x = torch.randn(2, 16, 8, 8)
    errors = []
    for ranks in ([4, 4], [12, 8], [20, 14]):
        f = Tucker2().decompose(conv, ranks)
        werr = float((Tucker2().reconstruct(f, conv) - conv.weight).detach().norm())
        assert 0 < werr <= tucker_error_bound(conv, *ranks) * (1 + 1e-4)
        out_err = float((f(x) - conv(x)).detach().norm())
        assert out_err <= 3 * werr * float(x.norm()) * (1 + 1e-4)  # ||conv_E(x)|| <= sqrt(k*k) ||E|| ||x||
        errors.append(werr)
    assert errors == sorted(errors, reverse=True)


def test_cp_error_falls_with_rank_and_recovers_a_cp_tensor():
    conv = _conv(8, 8, seed=3)
    errs = [float((CP().reconstruct(f, conv) - conv.weight).norm() / conv.weight.norm())
            for f in (CP().decompose(conv, [r]) for r in (2, 8, 24))]
    assert errs[0] > errs[-1] and errs[-1] < 0.5
    g = torch.Generator().manual_seed(0)
    a, b, v, h = (torch.randn(n, 3, generator=g) for n in (8, 8, 3, 3))
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("or,ir,kr,lr->oikl", a, b, v, h))
    f = CP().decompose(conv, [3])
    assert float((CP().reconstruct(f, conv) - conv.weight).norm() / conv.weight.norm()) < 1e-2


def test_rank_selectors():
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    with torch.no_grad():  # rank-6 signal plus small noise
        lin.weight.copy_(torch.randn(48, 6) @ torch.randn(6, 64) + 0.01 * torch.randn(48, 64))
    assert vbmf_ranks(SVD(), lin) == [6]
    assert energy_ranks(SVD(), lin, 0.999) == [6]
    r = compression_ranks(SVD(), lin, 4.0)[0]
    assert SVD().cost(lin, [r])[0] <= (64 * 48 + 48) / 4 < SVD().cost(lin, [r + 1])[0]
    conv = _conv(16, 16)
    ranks, s = macs_ranks({"c": (Tucker2(), conv, 100)}, budget=0.3 * conv.weight.numel() * 100)
    assert 0 < s < 1 and Tucker2().cost(conv, ranks["c"], 100)[1] <= 0.3 * conv.weight.numel() * 100


def test_layers_that_would_be_slower_are_skipped():
    torch.manual_seed(0)
    # tiny layers: three small kernels cost more than one; the replacement is never kept
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    rep = factorize_(model, FactorizeConfig(rank="fixed", rank_ratio=0.5, timing_batch=1, timing_repeats=15, min_speedup=1.0), (8, 4, 4))
    assert [l.kept for l in rep.layers] == [False, False]
    assert all(l.reason.startswith("not faster") and l.ms_after > l.ms_before for l in rep.layers)
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[2], nn.Conv2d)
    assert not hasattr(model, "torchshrink_transforms")
    # the same decision when a layer is timed faster but not by the required margin
    big = nn.Sequential(nn.Linear(512, 512))
    rep = factorize_(big, FactorizeConfig(rank="fixed", rank_ratio=0.05, min_speedup=1e6, timing_repeats=3), (512,))
    assert not rep.layers[0].kept and "not faster" in rep.layers[0].reason and "skipped" in rep.table()


def test_faster_layers_are_kept_and_the_model_loads_back(tmp_path):
    model = create_model("resnet8", num_classes=5, in_channels=1).eval()
    x = torch.randn(2, 1, 16, 16)
    cfg = FactorizeConfig(rank="fixed", rank_ratio=0.5, measure=False, conv="tucker")
    rep = factorize_(model, cfg, (1, 16, 16))
    kept = {l.name for l in rep.kept}
    assert "layer1.0.conv1" in kept and "conv1" not in kept  # the 1-channel stem is too thin
    assert all(l.error is not None and 0 < l.error < 1 for l in rep.kept)
    save_model(model, tmp_path / "f.pt")
    back = load_model(tmp_path / "f.pt").eval()
    assert torch.allclose(back(x), model(x), atol=1e-5)
    assert type(back.get_submodule("layer1.0.conv1")).__name__ == "Factorized"
    json.dumps(rep.to_dict())


def test_the_whole_model_is_timed_and_a_slower_one_can_be_undone(tmp_path):
    torch.manual_seed(0)

    def net():
        return nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1)).eval()

    model, x = net(), torch.randn(2, 32, 8, 8)
    cfg = FactorizeConfig(rank="fixed", rank_ratio=0.5, timing_batch=4, timing_repeats=3, min_speedup=1e-3)
    rep = factorize_(model, cfg, (32, 8, 8))
    assert len(rep.kept) == 2 and rep.model_speedup > 0
    assert any(n.startswith("whole model: ") for n in rep.notes) and "whole model" in rep.table()
    assert rep.to_dict()["model_speedup"] == rep.model_speedup
    assert factorize_(net(), FactorizeConfig(rank="fixed", measure=False), (32, 8, 8)).model_speedup is None
    # a whole-model bar no model can reach: every replacement is undone, the model is the dense one again
    model = net()
    ref = model(x)
    rep = factorize_(model, FactorizeConfig(rank="fixed", rank_ratio=0.5, timing_batch=4, timing_repeats=3, min_speedup=1e-3,
                                            min_model_speedup=1e6), (32, 8, 8))
    assert not rep.kept and all(l.reason.startswith("undone: the whole model") for l in rep.layers)
    assert all(isinstance(model[i], nn.Conv2d) for i in (0, 2)) and not hasattr(model, "torchshrink_transforms")
    assert torch.equal(model(x), ref)
    with pytest.raises(Exception, match="min_model_speedup: must be >= 0"):
        factorize_(net(), FactorizeConfig(min_model_speedup=-1), (32, 8, 8))


def test_recover_uses_the_distiller_hook(synth):
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, synth.num_classes))
    student = copy.deepcopy(teacher)
    seen = []

    class Task(nn.Module):
        def __init__(self, s, t):
            super().__init__()
            self.s, self.t = s, t
            seen.append(t)

        def forward(self, x):
            return self.s(x)

        def forward_train(self, x, y):
            assert not any(p.requires_grad for p in self.t.parameters())  # frozen while it teaches
            out = self.s(x)
            return out, {"mse": (out - self.t(x)).pow(2).mean()}

    from torchshrink.engine import FitConfig
    teacher.train()
    r = recover(student, synth.train, None, FitConfig(epochs=1), teacher=teacher, distiller=Task, progress=False,
                quiet=True)
    assert seen == [teacher] and "train_mse" in r.history[0]
    # the original comes back as it went in: a copy of it made later trains all its layers, not only new ones
    assert all(p.requires_grad for p in teacher.parameters()) and teacher.training
    again = copy.deepcopy(teacher)
    before = [p.detach().clone() for p in again.parameters()]
    recover(again, synth.train, None, FitConfig(epochs=1), teacher=teacher, distiller=Task, progress=False, quiet=True)
    assert all(not torch.equal(b, p) for b, p in zip(before, again.parameters()))


def test_bad_settings_are_reported_at_once():
    from torchshrink.errors import ConfigError

    with pytest.raises(ConfigError, match="conv: must be one of.*rank: must be one of"):
        factorize_(nn.Linear(4, 4), FactorizeConfig(conv="svdd", rank="magic"), (4,))


def test_cli_factorize(tmp_path, capsys, step_report):
    from torchshrink.cli import main

    model = create_model("resnet8", num_classes=10, in_channels=1, width=0.5)
    save_model(model, tmp_path / "m.pt")
    argv = [str(tmp_path / "m.pt"), "--data", "synthetic", "--rank", "fixed", "--rank-ratio", "0.5", "--no-measure",
            "--recover-epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(["factorize"] + argv) == 0
    out = capsys.readouterr().out
    assert "kept" in out and step_report(tmp_path / "run", "factorize")["layers"]
    back = load_model(tmp_path / "run" / "model.pt")
    assert any(type(m).__name__ == "Factorized" for m in back.modules())
    assert main(["factorize", str(tmp_path / "m.pt"), "--data", "synthetic", "--rank", "vbmff",
                 "--out", str(tmp_path / "r2")]) == 2
    assert "rank: must be one of" in capsys.readouterr().err
    # the whole-model bar from the command line: nothing is kept when the model misses it
    assert main(["factorize", str(tmp_path / "m.pt"), "--data", "synthetic", "--rank", "fixed", "--rank-ratio", "0.5",
                 "--measure-batch", "2", "--min-speedup", "0.001", "--min-model-speedup", "1e6", "--recover-epochs",
                 "0", "--out", str(tmp_path / "r3"), "--no-progress"]) == 0
    rep = step_report(tmp_path / "r3", "factorize")
    assert rep["model_speedup"] > 0 and not any(l["kept"] for l in rep["layers"])
