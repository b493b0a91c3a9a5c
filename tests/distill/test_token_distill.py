"""Distilling a shallower, narrower transformer from a bigger one on token ids, with feature taps on block outputs."""
import torch

from torchshrink.distill import make_distiller
from torchshrink.distill.taps import feature_shapes
from torchshrink.models import create_model


def test_fitnet_hint_on_transformer_blocks_with_token_inputs():
    teacher = create_model("transformer_text", num_classes=4, vocab_size=50)
    student = create_model("transformer_text", num_classes=4, vocab_size=50, width=0.5, depth=1)
    x = torch.randint(0, 50, (2, 12))
    assert feature_shapes(teacher, teacher.stage_names, x) == [(12, 64), (12, 64)]
    task = make_distiller("fitnet", student, teacher, x)
    assert isinstance(task.regressor[0], torch.nn.Linear) and task.regressor[0].in_features == 32
    _, losses = task.forward_train(x, torch.zeros(2, dtype=torch.long))
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert task.regressor[0].weight.grad is not None
