import torch
import torch.nn as nn

from torchshrink.measure.robustness import adversarial_accuracy


def test_attacks_hurt_a_linear_model_and_pgd_at_least_as_much():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 2, 2)
    w = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    y = (x.flatten(1) @ w.t()).squeeze(1).gt(0).long()
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.cat([-w, w]))
        model[1].bias.zero_()
    r = adversarial_accuracy(model, [(x, y)], epsilon=0.2, pgd_steps=5)
    assert r["clean_top1"] == 100.0
    assert r["fgsm_top1"] < 100.0
    assert r["pgd_top1"] <= r["fgsm_top1"] + 1e-9
    # pixel-space epsilon: no perturbation keeps the clean accuracy
    assert adversarial_accuracy(model, [(x, y)], epsilon=0.0)["pgd_top1"] == 100.0
