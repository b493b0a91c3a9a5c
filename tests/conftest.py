import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def synth():
    from torchshrink.data import DataConfig, build_loaders

    return build_loaders(DataConfig(name="synthetic", batch_size=32, eval_batch_size=64))


def _step_report(run, family: str, index: int | None = None) -> dict:
    """The method report a compression step of a run folder wrote (``steps/NN_label/result.json``)."""
    import json
    from pathlib import Path

    for f in sorted(Path(run, "steps").glob("*/result.json")):
        rec = json.loads(f.read_text())
        if rec["step"] == family and (index is None or rec["index"] == index):
            return rec["metrics"][family]
    raise AssertionError(f"no {family} step in {run}")


@pytest.fixture
def step_report():
    """``step_report(run_dir, family)``: the method report of that run's compression step."""
    return _step_report
