"""``torchshrink advise --model ... --data ...``: suggest a starting recipe, say why, write it to a file."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import TorchshrinkError
from .registry import command


@command("advise", help="suggest a starting recipe for a model and data set (and say why)")
class Advise:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", required=True, help="a registry name (e.g. resnet20, tv:resnet18) or a saved model file")
        p.add_argument("--data", default="fashion_mnist", help="data set name (default fashion_mnist)")
        p.add_argument("--data-root", default=None, help="folder holding the data set files")
        p.add_argument("--pretrained", action="store_true",
                       help="the model is already trained (implied for a model file; tv: names load torchvision weights)")
        p.add_argument("--out", default="recipe.yaml", help="where to write the recipe (default recipe.yaml)")
        p.add_argument("--run-dir", default="runs/advised", help="the run folder the recipe will use")
        p.add_argument("--overwrite", action="store_true", help="replace an existing file at --out")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..data import DataConfig, build_loaders
        from ..models import create_model, load_model
        from ..pipeline.advise import advise

        from ..engine.rundir import refuse_existing

        refuse_existing([args.out], args.overwrite, remove=False)
        data = {"name": args.data} | ({"root": args.data_root} if args.data_root else {})
        from ..config import from_dict

        loaders = build_loaders(from_dict(DataConfig, data))
        c = loaders.input_shape[0]
        path = Path(args.model)
        if path.suffix in (".pt", ".pth") or path.is_file():
            model = load_model(path)
            source, pretrained = {"path": str(path)}, True
        else:
            kwargs = {"weights": "DEFAULT"} if args.pretrained and args.model.startswith("tv:") else {}
            try:
                model = create_model(args.model, num_classes=loaders.num_classes, in_channels=c, **kwargs)
            except TorchshrinkError:
                raise
            except Exception as e:
                raise TorchshrinkError(f"model {args.model!r} could not be built ({str(e).splitlines()[0][:160]})") from None
            source, pretrained = {"name": args.model} | ({"kwargs": kwargs} if kwargs else {}), args.pretrained
        a = advise(source, data, model, loaders.input_shape, len(loaders.train.dataset), pretrained, out=args.run_dir)
        from ..io import write_text

        write_text(args.out, a.yaml())
        for r in a.reasons:
            print(f"- {r}")
        print(f"recipe written to {args.out}; check it with `torchshrink run {args.out} --dry-run`")
        return 0
