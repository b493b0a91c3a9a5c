
import pytest
import torch

from torchshrink.errors import CheckpointError
from torchshrink.models import create_model, load_model, save_model


def test_model_file_round_trip(tmp_path):
    m = create_model("wrn_16_1", num_classes=3, in_channels=1)
    save_model(m, tmp_path / "m.pt")
    m2 = load_model(tmp_path / "m.pt")
    x = torch.randn(2, 1, 16, 16)
    m.eval(), m2.eval()
    assert torch.equal(m(x), m2(x))


def test_corrupt_truncated_and_foreign_files(tmp_path):
    m = create_model("resnet8", num_classes=3)
    save_model(m, tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt.*truncated or corrupt"):
        load_model(tmp_path / "trunc.pt")
    torch.save(m.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="bare.pt' holds a plain state dict.*save it with save_model"):
        load_model(tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/torchshrink_pwned_by_test",))


def test_crafted_pickle_does_not_execute(tmp_path):
    import os

    marker = "/tmp/torchshrink_pwned_by_test"
    if os.path.exists(marker):
        os.unlink(marker)
    torch.save({"format": "torchshrink-model", "payload": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="unsafe pickle"):
        load_model(tmp_path / "evil.pt")
    assert not os.path.exists(marker)


def test_weights_of_another_model_are_named(tmp_path):
    save_model(create_model("resnet8", num_classes=3), tmp_path / "a.pt")
    obj = torch.load(tmp_path / "a.pt", weights_only=True)
    obj["arch"]["num_classes"] = 4
    torch.save(obj, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="belongs to another model.*shape mismatch"):
        load_model(tmp_path / "b.pt")
