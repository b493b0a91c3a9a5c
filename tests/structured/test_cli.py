import yaml

from torchshrink.models import create_model, load_model, save_model
from torchshrink.structured import BlockCirculant


def test_cli_structure_recovers_with_kd_and_transfer(tmp_path, capsys, step_report):
    from torchshrink.cli import main

    save_model(create_model("resnet8", num_classes=4, in_channels=1, width=0.5), tmp_path / "m.pt")
    common = ["--data", "synthetic", "--train-size", "64", "--no-progress"]
    assert main(["structure", str(tmp_path / "m.pt"), "--layers", "all", "--keep", "size", "--no-measure",
                 "--recover-epochs", "1", "--no-latency", "--out", str(tmp_path / "s"), *common]) == 0
    out = capsys.readouterr().out
    assert "structured.structure recover epoch 1/1" in out and "kept 9 of 10 layers" in out
    report = step_report(tmp_path / "s", "structure")
    assert report["layer_params_before"] / report["layer_params_after"] >= 3.5
    assert report["config"]["recover"]["distiller"] == "kd"  # the command recovers by distillation by default
    back = load_model(tmp_path / "s" / "model.pt")
    assert sum(isinstance(m, BlockCirculant) for m in back.modules()) == 9
    assert main(["structure", str(tmp_path / "m.pt"), "--block", "0", "--out", str(tmp_path / "x"), *common]) == 2
    assert "block size must be an integer >= 2" in capsys.readouterr().err
    # transfer shares the load/recover/save path; its own settings are checked before any work
    assert main(["transfer", str(tmp_path / "m.pt"), "--method", "rotate", "--out", str(tmp_path / "t"), *common]) == 2
    assert "method: must be one of crelu, rot4, flip, rot4flip" in capsys.readouterr().err


def test_recipe_steps_validate(tmp_path, capsys):
    from torchshrink.cli import main

    recipe = {"data": {"name": "synthetic"}, "model": {"name": "resnet8", "kwargs": {"width": 0.25}},
              "steps": [{"structure": {"block": 4, "keep": "size", "measure": False}}, {"transfer": {"method": "rot4"}}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(tmp_path / "r.yaml"), "--dry-run", "--out", str(tmp_path / "r")]) == 0
    recipe["steps"] = [{"structure": {"block": 1}}]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(tmp_path / "r.yaml"), "--dry-run", "--out", str(tmp_path / "r2")]) == 2
    assert "block: the block size must be an integer >= 2" in capsys.readouterr().err
