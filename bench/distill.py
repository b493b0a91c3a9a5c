"""Benchmark: residual-error KD against KD, FitNets, AT, DKD, DIST and KD/DKD with logit standardization, at the
plain student's measured cost, on Fashion-MNIST.

One teacher (resnet20) trained once and cached; one student architecture (resnet8). Every residual row is the
library's method by name (:func:`torchshrink.distill.distill_residual`, as the CLI and recipes run it): S and A
split from the student's own budget with the default ``branch`` design and fused back into the student's layers,
so every residual model is a resnet8 with the student's exact shapes. Rows: teacher, student, kd, fitnet, at, dkd,
dist, kd+ls, dkd+ls, residual (the method's default), residual-m1 (the paper's M.1), residual-m2, residual-m3,
and residual on the best baseline (chosen by this run's mean top-1), for every seed. Each row has top-1, MACs,
parameters, FGSM/PGD accuracy, gap closed % = (top1 - student) / (teacher - student) (same seed), training time,
and for residual rows ``s_alone_top1`` (the pair with A removed, same classifier).

Two parts, separate invocations that merge into ``bench/results/distill.json`` / ``.md``:

    .venv/bin/python bench/distill.py --part train   # train, evaluate and save every model (deterministic)
    .venv/bin/python bench/distill.py --part time    # time every saved model interleaved at batch 1 and 64,
                                                     # and the KD step against a hand-written loop (run it alone)
    .venv/bin/python bench/distill.py                # both

``--device cuda`` is the GPU profile: all 60,000 training and 10,000 test images kept on the GPU (cut, augmented
and normalized there), longer schedules and a larger batch, meant to fit in about 8 minutes on one GPU.
``--resume`` reuses the rows (and saved models) of an interrupted train part with the same settings.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torchshrink.data import DataConfig, InMemoryLoader, build_loaders  # noqa: E402
from torchshrink.distill import KD, distill_residual, make_distiller  # noqa: E402
from torchshrink.distill.losses import kd_loss  # noqa: E402
from torchshrink.distill.residual import StudentView  # noqa: E402
from torchshrink.engine import FitConfig, OptimConfig, evaluate, fit  # noqa: E402
from torchshrink.measure import count_macs, count_params, latency_many  # noqa: E402
from torchshrink.measure.results import bench_meta, write_results  # noqa: E402
from torchshrink.measure.robustness import adversarial_accuracy  # noqa: E402
from torchshrink.models import create_model, load_model, save_model  # noqa: E402

PROFILES = {
    # 2 CPU cores: 6,000 training images, 8 epochs per model (teacher 16): about an hour
    "cpu": {"train_size": 6000, "test_size": 5000, "batch_size": 128, "epochs": 8, "teacher_epochs": 16, "lr": 0.05,
            "eval_every": 1, "device": "cpu"},
    # one GPU: all 60,000 / 10,000 Fashion-MNIST images kept on the device, 10 epochs per model (teacher 20),
    # batch 512 (lr scaled linearly from 0.05 at 128), evaluated only at the end of each phase, the three seeds
    # in three processes (--jobs 3); estimated at 5-8 minutes on one recent GPU, not yet run
    "cuda": {"train_size": 0, "test_size": 0, "batch_size": 512, "epochs": 10, "teacher_epochs": 20, "lr": 0.2,
             "eval_every": 0, "device": "cuda"},
}
BASELINES = ["student", "kd", "fitnet", "at", "dkd", "dist", "kd+ls", "dkd+ls"]
WARMUP = {"dkd", "dkd+ls"}  # DKD ramps its loss in over the first 1/12 of training (the paper: 20 of 240 epochs)


def baseline_options(method: str, loaders, epochs: int) -> dict:
    """Each baseline's paper settings scaled to this schedule: DKD's (and DKD+LS's) warm-up."""
    return {"warmup_steps": len(loaders.train) * epochs // 12} if method in WARMUP else {}
RESIDUAL = ["residual", "residual-m1", "residual-m2", "residual-m3", "residual+best"]
TEACHER, STUDENT = "resnet20", "resnet8"
ATTACK = {"epsilon": 0.03, "pgd_steps": 5, "batches": 2}


def fit_config(epochs: int, seed: int, lr: float = 0.05, device: str = "cpu", eval_every: int = 1) -> FitConfig:
    """Every model of the benchmark trains with this: SGD, cosine, 0.3 warm-up epochs, wd 5e-4."""
    return FitConfig(epochs=epochs, seed=seed, device=device, eval_every=eval_every,
                     optim=OptimConfig(lr=lr, schedule="cosine", warmup_epochs=0.3, weight_decay=5e-4))


def cached_teacher(loaders, cache: Path, n_train: int, epochs: int, lr: float = 0.05, device: str = "cpu",
                   eval_every: int = 1):
    """The resnet20 teacher trained once on the first ``n_train`` images for ``epochs`` and cached in ``cache``."""
    tpath = cache / f"teacher_n{n_train}_e{epochs}.pt"
    if tpath.exists():
        print(f"reusing the cached teacher {tpath}", flush=True)
        return load_model(tpath).to(device).eval()
    c, nc = loaders.input_shape[0], loaders.num_classes
    teacher = create_model(TEACHER, nc, c)
    res = fit(teacher, loaders.train, loaders.test, fit_config(epochs, 0, lr, device, eval_every), desc="teacher")
    save_model(teacher.cpu(), tpath, meta={"seconds_per_epoch": res.seconds_per_epoch})
    return teacher.to(device).eval()


class DeviceLoader(InMemoryLoader):
    """:class:`InMemoryLoader` with the images, labels and normalisation on ``device``: each batch is cut,
    augmented (the same crops and flips, drawn from the same CPU generator) and normalized there."""

    def __init__(self, base: InMemoryLoader, device: str) -> None:
        super().__init__(base.dataset, base.batch_size, shuffle=base.shuffle, augment=base.augment,
                         crop_padding=base.crop_padding, flip=base.flip, seed=base.seed)
        self.device = torch.device(device)
        self.images = base.dataset.images.to(self.device)  # (N, C, H, W) uint8, once
        self.labels = base.dataset.labels.to(self.device)
        self.mean, self.std = self.mean.to(self.device), self.std.to(self.device)

    def __iter__(self):
        idx = self._indices().to(self.device)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch + 7919)  # as InMemoryLoader
        p, (h, w) = self.crop_padding, self.images.shape[2:]
        for b in range(len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images[sel]  # (B, C, H, W) uint8, on the device
            n = len(sel)
            if self.augment and p:
                xp = F.pad(x, (p,) * 4)
                dx = torch.randint(0, 2 * p + 1, (n,), generator=g).to(self.device)
                dy = torch.randint(0, 2 * p + 1, (n,), generator=g).to(self.device)
                rows = dy.view(n, 1) + torch.arange(h, device=self.device).view(1, h)
                cols = dx.view(n, 1) + torch.arange(w, device=self.device).view(1, w)
                x = xp.permute(0, 2, 3, 1)[torch.arange(n, device=self.device).view(n, 1, 1), rows.view(n, h, 1),
                                           cols.view(n, 1, w)].permute(0, 3, 1, 2)
            if self.augment and self.flip:
                mask = (torch.rand(n, generator=g) < 0.5).to(self.device)
                x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
            yield (x.float().div_(255) - self.mean) / self.std, self.labels[sel]


def load_data(prof: dict):
    loaders = build_loaders(DataConfig(name="fashion_mnist", train_size=prof["train_size"],
                                       test_size=prof["test_size"], batch_size=prof["batch_size"], seed=0))
    if prof["device"] == "cpu":
        return loaders
    train = DeviceLoader(loaders.train, prof["device"])
    test = DeviceLoader(loaders.test, prof["device"])
    return loaders._replace(train=train, val=test, test=test)


def step_time_ratio(teacher, make_student, loaders, batches: int = 12, rounds: int = 3) -> dict:
    """Median step time of the KD distiller vs a hand-written loop doing the same work, interleaved."""
    xs = [b for _, b in zip(range(batches), loaders.train)]
    torch.manual_seed(0)
    s1, s2 = make_student(), make_student()
    task = KD(s1, teacher)
    task.train()
    opt1 = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    opt2 = torch.optim.SGD(s2.parameters(), lr=0.01, momentum=0.9)
    s2.train()

    def lib(x, y):
        _, losses = task.forward_train(x, y)
        opt1.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        opt1.step()

    def hand(x, y):
        with torch.no_grad():
            t = teacher(x)
        s = s2(x)
        loss = 0.1 * F.cross_entropy(s, y) + 0.9 * kd_loss(s, t, 4.0)
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()

    times = {"lib": [], "hand": []}
    sync = torch.cuda.synchronize if xs[0][0].is_cuda else (lambda: None)  # CUDA runs asynchronously
    for x, y in xs[:2]:
        lib(x, y), hand(x, y)
    for r in range(rounds):
        for i, (x, y) in enumerate(xs):
            order = [("lib", lib), ("hand", hand)] if (i + r) % 2 == 0 else [("hand", hand), ("lib", lib)]
            for name, fn in order:
                sync()
                t0 = time.perf_counter()
                fn(x, y)
                sync()
                times[name].append(time.perf_counter() - t0)
    lib_ms, hand_ms = statistics.median(times["lib"]) * 1e3, statistics.median(times["hand"]) * 1e3
    return {"distiller_step_ms": lib_ms, "hand_loop_step_ms": hand_ms, "step_time_ratio": lib_ms / hand_ms,
            "steps_timed_each": len(times["lib"])}


def settings_of(prof: dict, seeds: list[int]) -> dict:
    return {"data": "fashion_mnist", **{k: v for k, v in prof.items()}, "teacher": TEACHER, "student": STUDENT,
            "seeds": seeds, "schedule": "cosine", "warmup_epochs": 0.3, "weight_decay": 5e-4, "attack": ATTACK}


def train_part(args, prof: dict, cache: Path) -> None:
    """Train every row (or, as a worker, one stage of one seed), save the models and merge the rows into the results.

    With ``--jobs N`` the seeds train in N single-threaded worker processes (deterministic, and the fastest use of a
    shared machine): first every seed's baselines, then, once the best baseline is known, every seed's residual rows.
    """
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = settings_of(prof, seeds)
    settings["threads"] = args.threads
    key = hashlib.sha1(json.dumps({k: v for k, v in settings.items() if k != "seeds"}, sort_keys=True).encode()
                       ).hexdigest()[:12]
    t_start = time.perf_counter()
    loaders = load_data(prof)
    settings["input_shape"] = list(loaders.input_shape)
    if args.worker and not (cache / f"teacher_n{prof['train_size']}_e{prof['teacher_epochs']}.pt").exists():
        sys.exit("bench/distill.py worker: the teacher is not cached; the parent process trains it first")
    teacher = cached_teacher(loaders, cache, prof["train_size"], prof["teacher_epochs"], prof["lr"], prof["device"],
                             prof["eval_every"])
    if not args.resume and not args.worker:  # a fresh run: forget the rows of earlier runs
        for tag in ["teacher"] + [f"s{sd}" for sd in seeds]:
            (cache / f"rows_{tag}.json").unlink(missing_ok=True)
    rows_of = lambda tag: _load_rows(cache / f"rows_{tag}.json", key)  # noqa: E731
    if args.worker:
        _train_rows(args.stage, seeds[0], args.best, prof, loaders, teacher, cache, key, rows_of(f"s{seeds[0]}"))
        return
    trow = rows_of("teacher")
    if "teacher" not in trow:
        trow = {"teacher": _row("teacher", "teacher", None, teacher, 0.0, prof["teacher_epochs"], prof, loaders, cache)}
        (cache / "rows_teacher.json").write_text(json.dumps({"key": key, "rows": trow}, indent=1))

    def merged() -> list[dict]:
        out = list(trow.values())
        for seed in seeds:
            out += list(rows_of(f"s{seed}").values())
        return out

    def stage(name: str, best: str = "") -> None:
        if args.jobs <= 1:
            for seed in seeds:
                _train_rows(name, seed, best, prof, loaders, teacher, cache, key, rows_of(f"s{seed}"),
                            on_row=lambda: write(merged(), settings, args.out, (time.perf_counter() - t_start) / 60))
            return
        import subprocess

        todo, running = list(seeds), []
        while todo or running:
            while todo and len(running) < args.jobs:
                seed = todo.pop(0)
                cmd = [sys.executable, __file__, "--part", "train", "--worker", "--stage", name, "--best", best,
                       "--seeds", str(seed), "--device", args.device, "--cache", args.cache_root, "--threads",
                       str(args.threads), "--out", args.out] + (["--resume"] if args.resume else []) + \
                    (["--quick"] if args.quick else [])
                log = open(cache / f"worker_{name}_s{seed}.log", "w")
                print(f"worker: {name} rows of seed {seed} (log {log.name})", flush=True)
                running.append((seed, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
            time.sleep(5)
            for item in list(running):
                if item[1].poll() is not None:
                    running.remove(item)
                    item[2].close()
                    if item[1].returncode:
                        sys.exit(f"bench/distill.py: the worker for seed {item[0]} failed; see {item[2].name}")
                    write(merged(), settings, args.out, (time.perf_counter() - t_start) / 60)

    stage("baselines")
    rows = merged()
    means = {b: statistics.mean(r["top1"] for r in rows if r["method"] == b) for b in BASELINES[1:]}
    best = max(means, key=means.get)
    settings["best_baseline"] = best
    print(f"best baseline by mean top-1: {best} ({means[best]:.2f}); the last residual row is residual+{best}",
          flush=True)
    stage("residual", best)
    # the control at equal training epochs: the best baseline trained as long as the residual default trains
    settings["control"] = control_name(best, prof["epochs"])
    stage("control", best)
    write(merged(), settings, args.out, elapsed=(time.perf_counter() - t_start) / 60)


def control_name(best: str, epochs: int) -> str:
    """``<best>@<E>``: the best baseline trained for E epochs, E the residual default's epochs in total."""
    from torchshrink.distill import residual_config

    cfg, split = residual_config("residual")
    sched = cfg.schedule(epochs)
    return f"{best}@{sched['student'] + split['assistants'] * sched['assistant'] + sched['tune'] + sched['head']}"


def _load_rows(path: Path, key: str) -> dict[str, dict]:
    """Saved rows of a rows file when its settings key matches ``key``."""
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    return dict(saved.get("rows", {})) if saved.get("key") == key else {}


def _row(name: str, method: str, seed: int | None, model, secs: float, epochs: int, prof: dict, loaders,
         cache: Path, **extra) -> dict:
    """Save ``model`` and evaluate it: the results row (latency is filled in by the time part)."""
    dev = prof["device"]
    path = cache / "models" / f"{name.replace('/', '__')}.pt"
    save_model(model.cpu().eval(), path)
    model.to(dev).eval()
    rob = adversarial_accuracy(model, loaders.test, epsilon=ATTACK["epsilon"], pgd_steps=ATTACK["pgd_steps"],
                               max_batches=ATTACK["batches"])
    row = {"name": name, "method": method, "seed": seed, "top1": evaluate(model, loaders.test, dev)["top1"],
           "params": count_params(model), "macs": count_macs(model.cpu(), loaders.input_shape),
           "size_bytes": path.stat().st_size, "latency_ms_b1": None, "latency_ms_b64": None,
           "train_seconds": round(secs, 1), "epochs_trained": epochs, "fgsm_top1": rob["fgsm_top1"],
           "pgd_top1": rob["pgd_top1"], "model_file": str(path), **extra}
    model.to(dev)
    print(f"[{name}] top-1 {row['top1']:.2f}" + (f" (S alone {extra['s_alone_top1']:.2f})" if "s_alone_top1" in extra
                                                  else "") + f" in {secs:.0f}s", flush=True)
    return row


def _train_rows(stage: str, seed: int, best: str, prof: dict, loaders, teacher, cache: Path, key: str,
                rows: dict[str, dict], on_row=None) -> None:
    """Train one seed's baseline rows (``stage='baselines'``) or residual rows (``'residual'``, ``best`` filled in)."""
    c, nc, shape = loaders.input_shape[0], loaders.num_classes, loaders.input_shape
    dev, ep = prof["device"], prof["epochs"]
    fcfg = fit_config(ep, seed, prof["lr"], dev, prof["eval_every"])
    path = cache / f"rows_s{seed}.json"
    methods = {"baselines": BASELINES, "residual": [m.replace("+best", f"+{best}") for m in RESIDUAL],
               "control": [control_name(best, ep)]}[stage]
    for method in methods:
        name = f"{method}/s{seed}"
        if name in rows:
            continue
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        if stage != "residual":
            base, _, e = method.partition("@")
            e = int(e or ep)
            m = create_model(STUDENT, nc, c)
            task = m if base == "student" else make_distiller(base, m, teacher, shape,
                                                              **baseline_options(base, loaders, e))
            cfg = fcfg if e == ep else fit_config(e, seed, prof["lr"], dev, prof["eval_every"])
            fit(task, loaders.train, loaders.test, cfg, desc=name)
            rows[name] = _row(name, method, seed, m, time.perf_counter() - t0, e, prof, loaders, cache)
        else:
            phases: dict[str, dict] = {}

            def after(phase, pair):
                phases[phase] = {"top1": evaluate(pair, loaders.test, dev)["top1"],
                                 "s_alone_top1": evaluate(StudentView(pair), loaders.test, dev)["top1"]}

            base = method.split("+", 1)[1] if "+" in method else ""
            model, rec = distill_residual(teacher, {"name": STUDENT}, loaders.train, loaders.test, shape, fcfg, method,
                                          batch_size=64,
                                          after_phase=after, base_kwargs=baseline_options(base, loaders, ep) or None)
            last = phases[rec["phases"][-1][0]]
            rows[name] = _row(name, method, seed, model, time.perf_counter() - t0,
                              sum(p[1] for p in rec["phases"]), prof, loaders, cache,
                              s_alone_top1=last["s_alone_top1"], pair_top1=last["top1"], phases=phases,
                              split=rec["split"]["design"], config=rec["config"])
        path.write_text(json.dumps({"key": key, "rows": rows}, indent=1))
        if on_row is not None:
            on_row()


def time_part(args, prof: dict, cache: Path) -> None:
    """Time every saved model of the results file interleaved (batch 1 and 64) and the KD step; merge them in."""
    path = Path(args.out) / "distill.json"
    if not path.exists():
        sys.exit("bench/distill.py --part time: no bench/results/distill.json yet; run --part train first")
    torch.set_num_threads(args.time_threads)
    res = json.loads(path.read_text())
    rows = res["rows"]
    dev = prof["device"]
    models = {r["name"]: load_model(r["model_file"]).to(dev).eval() for r in rows}
    shape = tuple(res["meta"]["settings"]["input_shape"])
    print(f"timing {len(models)} models interleaved on {dev} ({args.time_threads} threads)", flush=True)
    t0 = time.perf_counter()
    lat1 = latency_many(models, shape, batch_size=1, repeats=args.repeats, warmup=10, threads=args.time_threads,
                        device=dev)
    lat64 = latency_many(models, shape, batch_size=64, repeats=max(10, args.repeats // 3), warmup=3,
                         threads=args.time_threads, device=dev)
    for r in rows:
        r["latency_ms_b1"], r["latency_ms_b64"] = lat1[r["name"]].median_ms, lat64[r["name"]].median_ms
    loaders = load_data({**prof, "train_size": 1024})
    teacher = models["teacher"]
    step = step_time_ratio(teacher, lambda: create_model(STUDENT, loaders.num_classes, shape[0]).to(dev), loaders)
    timing = {"seconds": round(time.perf_counter() - t0, 1), "repeats_b1": args.repeats,
              "repeats_b64": max(10, args.repeats // 3), "threads": lat1["teacher"].threads, "device": dev,
              "step_time": step, "note": args.note, **_machine()}
    print(f"timed in {timing['seconds']}s; KD step {step['step_time_ratio']:.3f}x a hand-written loop", flush=True)
    write(rows, res["meta"]["settings"], args.out, elapsed=res["meta"].get("elapsed_min"), timing=timing,
          train_meta={k: res["meta"].get(k) for k in ("date", "cpu", "command", "note")})


def _machine() -> dict:
    from torchshrink.measure import machine_info

    return {f"timed_{k}": v for k, v in machine_info().items() if k in ("cpu", "cores", "machine")}


def summarize(rows: list[dict]) -> tuple[dict, list[str]]:
    """Per-method means, and the issue's checks on the best residual row (each said as met or missed, by how much)."""
    t = next((r for r in rows if r["method"] == "teacher"), None)
    plain = {r["seed"]: r for r in rows if r["method"] == "student"}
    for r in rows:
        p = plain.get(r["seed"])
        if t and p and t["top1"] > p["top1"]:
            r["gap_closed_pct"] = round(100 * (r["top1"] - p["top1"]) / (t["top1"] - p["top1"]), 2)
        if r.get("s_alone_top1") is not None:
            r["assistant_adds"] = round(r["top1"] - r["s_alone_top1"], 2)
        if p and r.get("latency_ms_b1") and p.get("latency_ms_b1"):
            r["latency_ratio_b1"] = round(r["latency_ms_b1"] / p["latency_ms_b1"], 3)
            r["latency_ratio_b64"] = round(r["latency_ms_b64"] / p["latency_ms_b64"], 3)
    summ: dict[str, dict] = {}
    for meth in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == meth]
        mean = lambda k: statistics.mean(r[k] for r in rs) if all(r.get(k) is not None for r in rs) else None  # noqa
        med = lambda k: statistics.median(r[k] for r in rs) if all(r.get(k) is not None for r in rs) else None  # noqa
        summ[meth] = {"n": len(rs), "top1_mean": mean("top1"),
                      "top1_std": statistics.stdev(r["top1"] for r in rs) if len(rs) > 1 else None,
                      "gap_closed_mean": mean("gap_closed_pct"), "s_alone_mean": mean("s_alone_top1"),
                      "assistant_adds_mean": mean("assistant_adds"), "latency_ms_b1_median": med("latency_ms_b1"),
                      "latency_ms_b64_median": med("latency_ms_b64"), "latency_ratio_b1_median": med("latency_ratio_b1"),
                      "latency_ratio_b64_median": med("latency_ratio_b64"), "macs": rs[0]["macs"],
                      "params": rs[0]["params"], "epochs_trained": rs[0].get("epochs_trained")}
    checks: list[str] = []
    res = {m: s for m, s in summ.items() if m.startswith("residual") and s["top1_mean"] is not None}
    base = {m: s for m, s in summ.items() if m in BASELINES[1:]}
    if res and base:
        best = max(res, key=lambda m: res[m]["top1_mean"])
        b, s = res[best], summ.get("student", {})
        top_base = max(base, key=lambda m: base[m]["top1_mean"])
        d = b["top1_mean"] - base[top_base]["top1_mean"]
        checks.append(f"- best residual row `{best}` {b['top1_mean']:.2f} vs the best baseline `{top_base}` "
                      f"{base[top_base]['top1_mean']:.2f}: {'beats every baseline' if d > 0 else 'MISSED'} "
                      f"({d:+.2f} points)")
        ctrl = [m for m in summ if "@" in m]
        for cm in ctrl:
            dc = b["top1_mean"] - summ[cm]["top1_mean"]
            checks.append(f"- against the control `{cm}` (the best baseline trained as many epochs as `residual`) "
                          f"{summ[cm]['top1_mean']:.2f}: {'ahead' if dc > 0 else 'BEHIND'} ({dc:+.2f} points)")
        gc = b["gap_closed_mean"]
        if gc is not None:
            checks.append(f"- gap closed {gc:.1f}% (target >= 60%): {'met' if gc >= 60 else f'MISSED by {60 - gc:.1f}'}")
        aa = b["assistant_adds_mean"]
        if aa is not None:
            checks.append(f"- the assistant adds {aa:+.2f} points (target >= 1.0): "
                          f"{'met' if aa >= 1.0 else f'MISSED by {1.0 - aa:.2f}'}")
        for tag in ("b1", "b64"):
            rr = b[f"latency_ratio_{tag}_median"]
            if rr is not None:
                checks.append(f"- latency at batch {tag[1:]} {rr:.3f}x the plain student's (median over seeds; target "
                              f"<= 1.05): {'met' if rr <= 1.05 else f'MISSED by {rr - 1.05:.3f}'}")
            else:
                checks.append(f"- latency at batch {tag[1:]}: not timed yet (run --part time)")
    return summ, checks


def write(rows: list[dict], settings: dict, out: str, elapsed=None, timing: dict | None = None,
          train_meta: dict | None = None) -> None:
    if timing is None:  # a train part: keep the saved timing only for models whose file did not change
        old = Path(out) / "distill.json"
        if old.exists():
            prev = json.loads(old.read_text())
            by = {r["name"]: r for r in prev["rows"]}
            kept = 0
            for r in rows:
                o = by.get(r["name"])
                if o and o.get("size_bytes") == r.get("size_bytes") and o.get("top1") == r.get("top1"):
                    r["latency_ms_b1"], r["latency_ms_b64"] = o.get("latency_ms_b1"), o.get("latency_ms_b64")
                    kept += r["latency_ms_b1"] is not None
            timing = prev["meta"].get("timing") if kept else None  # no saved timing describes these models
    summ, checks = summarize(rows)
    f = lambda v, spec=".2f": "-" if v is None else format(v, spec)  # noqa: E731
    t = summ.get("teacher", {})
    lines = ["Mean over seeds (gap closed = (top1 - plain student) / (teacher - plain student), same seed; 'A adds' = "
             "top-1 of S + A minus that of S alone, the pair with A removed, same classifier; latency: median over "
             "seeds of the ms per batch, and its ratio to the plain student of the same seed):", "",
             "| method | n | top1 | std | gap closed % | S alone | A adds | lat b1 ms | lat b64 ms | b1 / student | "
             "b64 / student | MACs | params | epochs |", "|" + "---|" * 14]
    lines += [f"| {m} | {s['n']} | {f(s['top1_mean'])} | {f(s['top1_std'])} | {f(s['gap_closed_mean'], '.1f')} | "
              f"{f(s['s_alone_mean'])} | {f(s['assistant_adds_mean'])} | {f(s['latency_ms_b1_median'], '.3f')} | "
              f"{f(s['latency_ms_b64_median'], '.3f')} | {f(s['latency_ratio_b1_median'], '.3f')} | "
              f"{f(s['latency_ratio_b64_median'], '.3f')} | {s['macs']:,} | {s['params']:,} | {s['epochs_trained']} |"
              for m, s in summ.items()]
    lines += ["", "Checks on the best residual row (mean of the seeds):", ""] + checks
    if t:
        lines += ["", f"Teacher top-1 {t['top1_mean']:.2f}."]
    if timing:
        st = timing["step_time"]
        lines += [f"Timing: {timing['seconds']}s on {timing.get('timed_cpu')} ({timing['threads']} threads, "
                  f"{timing['device']}), every model interleaved, {timing['repeats_b1']} repeats at batch 1 and "
                  f"{timing['repeats_b64']} at 64. Distillation step {st['distiller_step_ms']:.1f} ms vs a "
                  f"hand-written loop {st['hand_loop_step_ms']:.1f} ms: ratio {st['step_time_ratio']:.3f}. "
                  f"{timing.get('note') or ''}"]
    else:
        lines += ["Latency not timed yet: run `bench/distill.py --part time` on a quiet machine."]
    if elapsed is not None:
        lines += [f"Training part: {elapsed:.1f} min."]
    cols = ["name", "method", "seed", "top1", "gap_closed_pct", "s_alone_top1", "assistant_adds", "latency_ms_b1",
            "latency_ms_b64", "latency_ratio_b1", "latency_ratio_b64", "macs", "params", "fgsm_top1", "pgd_top1",
            "epochs_trained", "train_seconds"]
    meta = bench_meta(settings, summary=summ, checks=checks, elapsed_min=elapsed, timing=timing)
    if train_meta:
        meta["train"] = train_meta
    write_results("distill", rows, meta, out, columns=cols, notes="\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["train", "time", "all"], default="all")
    ap.add_argument("--device", choices=list(PROFILES), default="cpu", help="the profile: cpu (2 cores) or cuda")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--resume", action="store_true", help="reuse the rows of an interrupted train part")
    ap.add_argument("--quick", action="store_true", help="a smoke test: 512 images, 1 epoch (results not meaningful)")
    ap.add_argument("--cache", default="runs/bench_distill")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--threads", type=int, default=1, help="threads per training process (timing: --time-threads)")
    ap.add_argument("--jobs", type=int, default=0, help="train part: seeds trained in parallel processes "
                    "(default 2 on cpu, 3 on cuda)")
    ap.add_argument("--time-threads", type=int, default=2, help="threads the time part times with")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stage", default="baselines", help=argparse.SUPPRESS)
    ap.add_argument("--best", default="", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=100, help="timing repeats at batch 1 (a third at batch 64)")
    ap.add_argument("--note", default="", help="what else ran on the machine during the timing")
    args = ap.parse_args()
    prof = PROFILES[args.device]
    args.jobs = args.jobs or (3 if args.device == "cuda" else 2)
    if args.quick:  # a smoke test of the whole benchmark: tiny data, one epoch per phase
        prof = {**prof, "train_size": 512, "test_size": 256, "epochs": 1, "teacher_epochs": 1}
        args.cache = str(Path(args.cache) / "quick")
    args.cache_root = args.cache if not args.quick else str(Path(args.cache).parent)
    if prof["device"] == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/distill.py --device cuda: no CUDA GPU is available here; run the cpu profile")
    cache = Path(args.cache) if args.device == "cpu" else Path(args.cache) / args.device
    if args.part in ("train", "all"):
        train_part(args, prof, cache)
    if args.part in ("time", "all"):
        time_part(args, prof, cache)


if __name__ == "__main__":
    main()
