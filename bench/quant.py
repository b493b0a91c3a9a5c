"""Benchmark: int8 (PTQ, QAT), 4-bit, binary, codebook and Deep Compression on Fashion-MNIST.

A ResNet-8x4 (the CIFAR distillation benchmarks' student) is trained on a Fashion-MNIST subset (cached in
``.cache/quant/<model>``); each method starts from
it. Every compressed model is written to its own file format and evaluated AFTER reloading from that
file (int8: ``save_model``/``load_model``; k-bit and binary: packed ``.tspk``; codebook and
prune+codebook+Huffman: ``.tsdc``), so ``size_bytes`` is the real file size. Latency at batch 1 and
64 is timed interleaved across all models with 2 threads. Int8 PTQ is measured for the torch.ao FX
flow on the x86, fbgemm and onednn engines, and for torchao's PT2E flow (X86InductorQuantizer +
torch.compile) against a torch.compile'd float model.

Run: ``nice -n 10 .venv/bin/python bench/quant.py`` (add ``--no-pt2e`` to skip the compiled models).
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchshrink.data import DataConfig, build_loaders  # noqa: E402
from torchshrink.distill import make_distiller  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, fit  # noqa: E402
from torchshrink.measure import bench_meta, measure_many, result_row, write_results  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402
from torchshrink.quant import PTQConfig, quantize_ptq  # noqa: E402
from torchshrink.quant.binary import BinaryConfig, binarize_  # noqa: E402
from torchshrink.quant.codebook import CodebookConfig, bake_, freeze_all_but_centroids_, share_weights_  # noqa: E402
from torchshrink.prune.magnitude import MagnitudeConfig, fold_masks_  # noqa: E402
from torchshrink.prune.schedule import GradualMagnitude  # noqa: E402
from torchshrink.quant.deep_compression import load_compressed, save_compressed  # noqa: E402
from torchshrink.quant.lowbit import LowBitConfig, quantize_weights_  # noqa: E402
from torchshrink.quant.packing import load_packed, save_packed  # noqa: E402
from torchshrink.quant.qat import convert_qat, prepare_qat, qat_task  # noqa: E402

warnings.filterwarnings("ignore")
CACHE = ROOT / ".cache" / "quant"
S = {"model": "resnet8x4", "train_size": 6000, "test_size": 2000, "batch_size": 128, "epochs": 8, "lr": 0.1,
     "calib_batches": 8, "observer": "histogram", "qat_epochs": 1, "qat_lr": 0.005, "lowbit_bits": 4,
     "lowbit_epochs": 1, "binary_epochs": 1, "ft_lr": 0.01, "codebook_bits": 4, "centroid_epochs": 1,
     "centroid_lr": 0.001, "sparsity": 0.9, "prune_schedule": "gradual global, edges dense", "prune_epochs": 10, "prune_recovery": "kd", "dc_model": "vgg11", "dc_width": 0.5, "dc_epochs": 12, "dc_lr": 0.05, "threads": 2, "train_threads": 2, "repeats": 30,
     "seed": 0}


def fcfg(epochs: int, lr: float) -> FitConfig:
    return FitConfig(epochs=epochs, seed=S["seed"], optim=OptimConfig(lr=lr, schedule="cosine", weight_decay=5e-4))


def cached(name: str, make, loaders, epochs: int, lr: float, model: str | None = None):
    """Train ``make()`` (a model or a task) into .cache/quant/<model>/name unless finished before."""
    path = CACHE / (model or S["model"]) / name / "model.pt"
    obj = make()
    if path.exists():
        state = torch.load(path, weights_only=True)
        obj.load_state_dict(state)
        print(f"[{name}] reusing {path}", flush=True)
        return obj
    t0 = time.perf_counter()
    fit(obj, loaders.train, loaders.val, fcfg(epochs, lr), out_dir=path.parent, desc=name)
    print(f"[{name}] trained in {time.perf_counter() - t0:.0f}s", flush=True)
    torch.save(obj.state_dict(), path)
    return obj


CONTROL = "float + extra epochs (control)"


def deep_compression(base, model: str, prefix: str, loaders, files: Path, models: dict, sizes: dict,
                     extra: dict) -> None:
    """Prune + codebook + Huffman ``base`` into ``files``, adding the reloaded model and a float control.

    Pruning as in Han et al.: gradual (a cubic ramp to the target over the first 60% of the fine-tuning, one
    magnitude threshold over all inner layers; the first conv and the classifier stay dense), fine-tuned with KD
    from the float model, masks folded in at the end; then a k-means codebook per layer (zeros stay zero) with
    centroid fine-tuning, baked and written with Huffman-coded indices. The control is the float model trained
    as many extra epochs (cross-entropy): the fair reference for the accuracy.
    """
    shape = loaders.input_shape
    m = copy.deepcopy(base)
    path = CACHE / model / "pruned" / "model.pt"
    if path.exists():
        m.load_state_dict(torch.load(path, weights_only=True))
        print(f"[{prefix}pruned] reusing {path}", flush=True)
    else:
        layers = [n for n, mod in m.named_modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
        ramp_end = int(len(loaders.train) * S["prune_epochs"] * 0.6)
        cb = GradualMagnitude(m, MagnitudeConfig(sparsity=S["sparsity"], scope="global",
                                                 exclude=[layers[0], layers[-1]]), start=0, end=ramp_end, every=5)
        fit(make_distiller(S["prune_recovery"], m, copy.deepcopy(base), shape), loaders.train, loaders.val,
            fcfg(S["prune_epochs"], S["ft_lr"]), out_dir=path.parent, callbacks=[cb], desc=f"{prefix}pruned")
        fold_masks_(m, cb.masks)
        torch.save(m.state_dict(), path)

    def shared():
        mm = copy.deepcopy(m)
        share_weights_(mm, CodebookConfig(bits=S["codebook_bits"]))
        freeze_all_but_centroids_(mm)
        return mm

    m2 = cached("pruned_codebook", shared, loaders, S["centroid_epochs"], S["centroid_lr"], model=model)
    bake_(m2)
    dc = prefix + "prune+codebook+huffman"
    sizes[dc] = save_compressed(m2, files / "deep_compression.tsdc")
    models[dc] = load_compressed(files / "deep_compression.tsdc")
    control = cached("float_control", lambda: copy.deepcopy(base), loaders, S["prune_epochs"] + S["centroid_epochs"],
                     S["ft_lr"], model=model).eval()
    save_model(control, files / "float_control.pt")
    models[prefix + CONTROL] = load_model(files / "float_control.pt").eval()
    sizes[prefix + CONTROL] = os.path.getsize(files / "float_control.pt")
    extra[dc] = {"top1_drop_vs_control": None}  # filled in after measuring


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-pt2e", action="store_true", help="skip torchao PT2E + torch.compile")
    args = ap.parse_args()
    torch.manual_seed(S["seed"])
    torch.set_num_threads(S["train_threads"])
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=S["train_size"], test_size=S["test_size"],
                                       batch_size=S["batch_size"], seed=S["seed"]))
    shape = loaders.input_shape
    files = CACHE / S["model"] / "files"
    files.mkdir(parents=True, exist_ok=True)
    new = lambda: create_model(S["model"], num_classes=loaders.num_classes, in_channels=shape[0])  # noqa: E731

    base = cached("float", new, loaders, S["epochs"], S["lr"]).eval()
    base.requires_grad_(True)
    save_model(base, files / "float.pt")
    models, sizes, notes, extra = {"float": load_model(files / "float.pt").eval()}, {}, [], {}
    sizes["float"] = os.path.getsize(files / "float.pt")
    calib = [x for x, _ in zip((b[0].float() for b in loaders.train), range(S["calib_batches"]))]

    # int8 PTQ on each torch.ao engine (FX flow), saved and reloaded
    for eng in ("x86", "fbgemm", "onednn"):
        t0 = time.perf_counter()
        q = quantize_ptq(base, calib, PTQConfig(engine=eng, observer=S["observer"], calib_batches=S["calib_batches"]))
        save_model(q, files / f"ptq_{eng}.pt")
        models[f"int8 ptq fx/{eng}"] = load_model(files / f"ptq_{eng}.pt")
        sizes[f"int8 ptq fx/{eng}"] = os.path.getsize(files / f"ptq_{eng}.pt")
        extra[f"int8 ptq fx/{eng}"] = {"quantize_s": round(time.perf_counter() - t0, 2)}
    # what engine="auto" (the CLI's default) picks here: it times the three engines itself, at batch 1
    auto = quantize_ptq(base, calib, PTQConfig(engine="auto", observer=S["observer"], calib_batches=S["calib_batches"]))
    notes.append(f"engine auto (quantize's default) on this machine: {auto.torchshrink_runtime_choice.summary()}.")
    print(notes[-1], flush=True)
    del auto
    torch.backends.quantized.engine = "x86"

    # QAT (1 epoch from the float model, distilled from it with Hinton KD)
    ex = calib[0][:2]
    prepared = prepare_qat(base, ex, PTQConfig(engine="x86"))
    task = cached("qat", lambda: qat_task(prepare_qat(base, ex, PTQConfig(engine="x86")), base, "kd"), loaders,
                  S["qat_epochs"], S["qat_lr"])
    prepared = task.student if hasattr(task, "student") else task
    q = convert_qat(prepared)
    save_model(q, files / "qat.pt")
    models["int8 qat kd"] = load_model(files / "qat.pt")
    sizes["int8 qat kd"] = os.path.getsize(files / "qat.pt")

    # k-bit DoReFa and binary XNOR weights, fine-tuned with the STE, stored packed
    def lowbit():
        m = copy.deepcopy(base)
        quantize_weights_(m, LowBitConfig(bits=S["lowbit_bits"]))
        return m

    def binary():
        m = copy.deepcopy(base)
        binarize_(m, BinaryConfig(xnor=True, keep_edges=True))
        return m

    for name, make, ep in ((f"{S['lowbit_bits']}-bit dorefa", lowbit, S["lowbit_epochs"]),
                           ("binary xnor", binary, S["binary_epochs"])):
        m = cached(name.replace(" ", "_"), make, loaders, ep, S["ft_lr"])
        sizes[name] = save_packed(m, files / f"{name.replace(' ', '_')}.tspk")
        models[name] = load_packed(files / f"{name.replace(' ', '_')}.tspk")

    # codebook only (k-means, centroid fine-tuning), and the Deep Compression pipeline
    def codebook():
        m = copy.deepcopy(base)
        share_weights_(m, CodebookConfig(bits=S["codebook_bits"]))
        freeze_all_but_centroids_(m)
        return m

    m = cached("codebook", codebook, loaders, S["centroid_epochs"], S["centroid_lr"])
    bake_(m)
    sizes["codebook 4b huffman"] = save_compressed(m, files / "codebook.tsdc")
    models["codebook 4b huffman"] = load_compressed(files / "codebook.tsdc")

    dc = "prune+codebook+huffman"
    deep_compression(base, S["model"], "", loaders, files, models, sizes, extra)

    # the same pipeline on a wider, more redundant model (VGG-11 at width 0.5, 2.3M parameters)
    vgg_files = CACHE / S["dc_model"] / "files"
    vgg_files.mkdir(parents=True, exist_ok=True)
    vgg = cached("float", lambda: create_model(S["dc_model"], num_classes=loaders.num_classes, in_channels=shape[0],
                                               width=S["dc_width"]), loaders, S["dc_epochs"], S["dc_lr"],
                 model=S["dc_model"]).eval()
    save_model(vgg, vgg_files / "float.pt")
    models["vgg11 float"] = load_model(vgg_files / "float.pt").eval()
    sizes["vgg11 float"] = os.path.getsize(vgg_files / "float.pt")
    deep_compression(vgg, S["dc_model"], "vgg11 ", loaders, vgg_files, models, sizes, extra)

    for k in models:
        models[k].eval()
    ms = measure_many(models, shape, loaders.test, batch_size=64, repeats=S["repeats"], threads=S["threads"],
                      size_bytes=sizes)
    for pre in ("", "vgg11 "):
        extra[pre + dc]["top1_drop_vs_control"] = round(ms[pre + CONTROL].top1 - ms[pre + dc].top1, 2)
    methods = {"float": "float", CONTROL: "float control", "int8 qat kd": "qat int8", "binary xnor": "binary xnor",
               "codebook 4b huffman": "codebook huffman", dc: "deep_compression prune codebook huffman",
               f"{S['lowbit_bits']}-bit dorefa": "lowbit dorefa"}
    methods.update({"vgg11 " + k: methods[k] for k in ("float", CONTROL, dc)})
    rows = [result_row(mm, methods.get(k, "ptq int8 " + k.split()[-1]), S["seed"],
                       None if k in ("float", "vgg11 float") else ms["vgg11 float" if k.startswith("vgg11") else "float"],
                       model=S["dc_model"] if k.startswith("vgg11") else S["model"], **extra.get(k, {}))
            for k, mm in ms.items()]

    # speed only: the same int8 path on the narrower ResNet-20 (untrained), to show how the gain depends on width
    r20 = create_model("resnet20", num_classes=loaders.num_classes, in_channels=shape[0]).eval()
    q20 = quantize_ptq(r20, calib, PTQConfig(engine="x86", observer=S["observer"], calib_batches=S["calib_batches"]))
    sm = measure_many({"resnet20 float": r20, "resnet20 int8 ptq fx/x86": q20}, shape, None, batch_size=64,
                      repeats=S["repeats"], threads=S["threads"])
    rows.append(result_row(sm["resnet20 float"], "float (speed only)", S["seed"]))
    rows.append(result_row(sm["resnet20 int8 ptq fx/x86"], "ptq int8 x86 (speed only)", S["seed"], sm["resnet20 float"]))

    meta = bench_meta(S)
    cols = ["name", "method", "runtime", "top1", "size_bytes", "size_ratio", "latency_ms_b1", "latency_ms_b64", "speedup_b1",
            "speedup_b64", "top1_drop", "top1_drop_vs_control", "params", "macs", "seed"]
    head = (f"Fashion-MNIST subset, {S['model']}. top1 after reloading each model from its file; size_ratio = float "
            "file / file; speedup = float latency / latency (2 threads, interleaved timing). top1_drop is against the "
            "float model; the Deep Compression row also gives top1_drop_vs_control, against the float model trained "
            "as many extra epochs as its pruning and centroid fine-tuning (the control row). Rows starting 'vgg11' run "
            "the same Deep Compression pipeline on a VGG-11 (width 0.5, 2.3M parameters) trained on the same data, "
            "against its own float model and control.\n\n")
    write_results("quant", rows, meta, out_dir=ROOT / "bench" / "results", columns=cols,
                  notes=head + "\n".join(notes + ["PT2E rows pending (written when torch.compile finishes)."]))
    if not args.no_pt2e:
        # PT2E: torchao X86InductorQuantizer lowered by torch.compile, against compiled float
        from torchshrink.quant.ptq import quantize_pt2e

        try:
            t0 = time.perf_counter()
            comp_f = torch.compile(copy.deepcopy(models["float"]))
            comp_q = quantize_pt2e(models["float"], calib)
            with torch.no_grad():
                for c in (comp_f, comp_q):
                    c(calib[0][:1]); c(calib[0][:64])  # noqa: E702  (compile both shapes up front)
            cs = time.perf_counter() - t0
            pm = measure_many({"float compiled": comp_f, "int8 pt2e x86-inductor": comp_q}, shape, loaders.test,
                              batch_size=64, repeats=S["repeats"], threads=S["threads"], macs={"float compiled": ms["float"].macs,
                              "int8 pt2e x86-inductor": ms["float"].macs},
                              size_bytes={"float compiled": sizes["float"], "int8 pt2e x86-inductor": sizes["int8 ptq fx/x86"]})
            rows.append(result_row(pm["float compiled"], "float compiled", S["seed"], ms["float"], compile_s=round(cs, 1)))
            rows.append(result_row(pm["int8 pt2e x86-inductor"], "ptq int8 pt2e", S["seed"], ms["float"],
                                   vs_compiled_float_b1=pm["float compiled"].latency_ms_b1 / pm["int8 pt2e x86-inductor"].latency_ms_b1,
                                   vs_compiled_float_b64=pm["float compiled"].latency_ms_bn / pm["int8 pt2e x86-inductor"].latency_ms_bn))
            notes.append("PT2E rows: size_bytes is the FX int8 file's (compiled modules are not saved); "
                         "speedups are against eager float; vs_compiled_float_* against torch.compile'd float.")
        except Exception as e:  # report, do not hide
            notes.append(f"PT2E flow failed: {type(e).__name__}: {str(e)[:200]}")
            print(notes[-1], flush=True)

    text = head + "\n".join(notes)
    write_results("quant", rows, meta, out_dir=ROOT / "bench" / "results", columns=cols, notes=text)
    for r in rows:
        print(f"{r['name']:28s} top1 {r['top1'] if r['top1'] is None else round(r['top1'], 2)} size {r['size_bytes']:>9d} b1 {r['latency_ms_b1']:.3f}ms "
              f"b64 {r['latency_ms_b64']:.2f}ms x{r.get('speedup_b1') or 1:.2f}/x{r.get('speedup_b64') or 1:.2f} "
              f"size/{r.get('size_ratio') or 1:.1f}", flush=True)


if __name__ == "__main__":
    main()
