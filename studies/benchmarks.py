"""Performance figures -> reports/benchmarks.md. Ratios are measured side by side in one run.

    python studies/benchmarks.py [--profile quick] [--skip-ray] [--skip-compile]

Core: skeleton-mask render (fast hand-written gradients vs the per-bone Python loop vs a
torch.compile'd render vs the memory-bandwidth bound of writing the output), the coverage
distance, training-step and evaluation throughput, and the render's share of a training step;
fp32 vs bf16 (``train.precision``): step, evaluation, share of a large convolution's peak,
the top ops of one step, and a torch.compile'd backbone against its compile time.
Orchestration: Ray Train with 1 worker vs the plain ``fit``, 2 workers vs 1, Tune overhead
per trial (``--skip-ray`` leaves them out).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch

from maskpose_core.config import profile_config
from maskpose_core.render.fast_bones import NearestBoneDist2
from maskpose_core.render.skeleton_mask import (render_segments, render_segments_loop, render_skeleton,
                                                segment_sigma2)
from maskpose_core.skeleton import landmark_segments
from orchestration.tracking import git_state

REPO = Path(__file__).resolve().parents[1]


def best_of(fn, repeats: int = 5) -> float:
    """Best wall time of ``repeats`` calls (s), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_render(n: int = 512, size: int = 32, *, compile_render: bool = True) -> tuple[list[tuple[str, str]], float]:
    """The render's rows, and the fast fwd+bwd time per mask of the skeleton mask plus the
    coverage distance (s), which the training-step section relates to a whole step."""
    torch.manual_seed(0)
    pts = torch.rand(n, 17, 2) * 1.6 - 0.8
    segs = torch.tensor(landmark_segments(17, delta=True))
    s2 = segment_sigma2(17, delta=True, sigma2=0.02, arm_factor=0.5)
    fast = render_skeleton(pts, segs, s2, size)
    loop = render_segments_loop(pts, segs, s2, size)
    err = float((fast - loop).abs().max())
    t_fast = best_of(lambda: render_skeleton(pts, segs, s2, size))
    t_loop = best_of(lambda: render_segments_loop(pts, segs, s2, size), repeats=3)
    # forward + backward, the training path
    p = pts.clone().requires_grad_(True)
    w = torch.rand(n, size, size)

    def fwd_bwd(render):
        p.grad = None
        (render(p, segs, s2, size) * w).sum().backward()
    t_fast_fb = best_of(lambda: fwd_bwd(render_skeleton))
    t_loop_fb = best_of(lambda: fwd_bwd(render_segments_loop), repeats=3)
    ones = torch.ones(len(segs))
    t_near_fb = best_of(lambda: fwd_bwd(lambda q, k, _s, r: NearestBoneDist2.apply(q, k, ones, r)))
    compiled_rows = []
    if compile_render:
        # torch.compile (inductor, C++) of the vectorised render fuses the (N, K, H, W) work into one loop
        compiled = torch.compile(render_segments, dynamic=False)
        t0 = time.perf_counter()
        err_c = float((compiled(pts, segs, s2, size) - loop).abs().max())
        fwd_bwd(compiled)
        t_compile = time.perf_counter() - t0
        t_comp = best_of(lambda: compiled(pts, segs, s2, size))
        t_comp_fb = best_of(lambda: fwd_bwd(compiled))
        compiled_rows = [
            ("render fwd, torch.compile of the vectorised render (masks/s)", f"{n / t_comp:,.0f}"),
            ("render fwd speed-up compiled / loop (target ≥ 20×)", f"{t_loop / t_comp:.1f}×"),
            ("render fwd+bwd, compiled (masks/s)", f"{n / t_comp_fb:,.0f}"),
            ("render fwd+bwd speed-up compiled / loop (target ≥ 20×)", f"{t_loop_fb / t_comp_fb:.1f}×"),
            ("compile time, first fwd + fwd+bwd (s, once per process)", f"{t_compile:.1f}"),
            ("max |compiled − loop|", f"{err_c:.1e}"),
        ]
    # memory-bandwidth bound: time to write the same number of output bytes
    big = torch.empty(64 * 1024 * 1024 // 4)
    t_fill = best_of(lambda: big.fill_(1.0))
    bandwidth = big.numel() * 4 / t_fill                            # bytes/s
    t_bound = n * size * size * 4 / bandwidth
    return [
        ("render fwd, fast (masks/s)", f"{n / t_fast:,.0f}"),
        ("render fwd, per-bone loop (masks/s)", f"{n / t_loop:,.0f}"),
        ("render fwd speed-up fast / loop (target ≥ 20×)", f"{t_loop / t_fast:.1f}×"),
        ("render fwd+bwd, fast (masks/s)", f"{n / t_fast_fb:,.0f}"),
        ("render fwd+bwd, per-bone loop (masks/s)", f"{n / t_loop_fb:,.0f}"),
        ("render fwd+bwd speed-up fast / loop (target ≥ 20×)", f"{t_loop_fb / t_fast_fb:.1f}×"),
        ("max |fast − loop|", f"{err:.1e}"),
        *compiled_rows,
        ("coverage distance fwd+bwd, fast (masks/s)", f"{n / t_near_fb:,.0f}"),
        ("write bandwidth (GB/s, tensor fill)", f"{bandwidth / 1e9:.1f}"),
        ("output-write bound (masks/s)", f"{n / t_bound:,.0f}"),
        ("fast render / write bound", f"{t_bound / t_fast:.3f} (1.0 = as fast as writing the output)"),
    ], (t_fast_fb + t_near_fb) / n


def make_step(net, cfg, batches):
    """One training step (forward, backward, AdamW) per call, cycling over ``batches``."""
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optim.lr)
    i = [0]

    def step():
        b = batches[i[0] % len(batches)]
        i[0] += 1
        out = net(b, sigma2=cfg.loss.sigma2, physique_on=True)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return step


def bench_training(profile: str, render_s_per_mask: float) -> list[tuple[str, str]]:
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.evaluate import evaluate
    from maskpose_core.train.fit import build_model
    cfg = profile_config(profile)
    data = load_data(cfg.data, progress=False)
    data.train.load_in_memory()
    net = build_model(cfg, data)
    loader = torch.utils.data.DataLoader(data.train, batch_size=cfg.optim.batch_size, shuffle=True)
    step = make_step(net, cfg, [b for b, _ in zip(loader, range(4))])
    t_step = best_of(step, repeats=4)
    n_masks = cfg.optim.batch_size * data.train.num_views ** 2 if cfg.loss.cross_view else \
        cfg.optim.batch_size * data.train.num_views
    rs = cfg.loss.render_size
    n_eval = min(256, len(data.val))
    t_eval = best_of(lambda: evaluate(net, data.val, max_samples=n_eval), repeats=2)
    views = data.train.num_views
    return [
        (f"training step ({profile}, batch {cfg.optim.batch_size} moments × {views} views)", f"{t_step:.3f} s"),
        ("training throughput (moments/s)", f"{cfg.optim.batch_size / t_step:.1f}"),
        ("training throughput (images/s)", f"{cfg.optim.batch_size * views / t_step:.1f}"),
        ("evaluation throughput (images/s, monocular)", f"{n_eval * views / t_eval:.1f}"),
        (f"skeleton mask + coverage distance fwd+bwd ({n_masks} masks of {rs}×{rs}, from the 32×32 rate) "
         "/ training step", f"{100 * render_s_per_mask * n_masks * (rs / 32) ** 2 / t_step:.1f} %"),
    ]


def conv_peak_gflops(precision: str) -> float:
    """GFLOP/s of one large 3×3 convolution (32×128×32×32 -> 128 channels, forward), the
    machine's practical peak for the kind of work the detector does."""
    from maskpose_core.model.precision import autocast
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False)
    x = torch.randn(32, 128, 32, 32)
    flops = 2 * 32 * 128 * 32 * 32 * 128 * 9

    def run():
        with torch.no_grad(), autocast("cpu", precision):
            conv(x)
    return flops / best_of(run, repeats=5) / 1e9


def _top_ops(step, k: int = 8) -> str:
    """The ``k`` ops with the most self CPU time in one ``step()`` (ms), as one table cell."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:k]
    return "; ".join(f"{e.key} {e.self_cpu_time_total / 1e3:.0f}" for e in rows)


def bench_precision(profile: str, *, compile_detector: bool = True) -> list[tuple[str, str]]:
    """fp32 against bf16 (train.precision) side by side: the training step on the same batches
    from the same initial weights, its share of the large-conv peak, evaluation, the top ops of
    one step; and torch.compile of the detector with its compile time against the quick budget."""
    from torch.utils.flop_counter import FlopCounterMode

    from maskpose_core.data.registry import load_data
    from maskpose_core.model.precision import cpu_has_native_bf16
    from maskpose_core.train.evaluate import evaluate
    from maskpose_core.train.fit import build_model
    cfg = profile_config(profile)
    data = load_data(cfg.data, progress=False)
    data.train.load_in_memory()
    loader = torch.utils.data.DataLoader(data.train, batch_size=cfg.optim.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    batches = [b for b, _ in zip(loader, range(4))]
    views, moments = data.train.num_views, cfg.optim.batch_size
    n_eval = min(256, len(data.val))
    rows, step_s, eval_s, tops = [], {}, {}, {}
    flops = 0
    for precision in ("fp32", "bf16"):
        net = build_model(cfg, data).set_precision(precision)
        step = make_step(net, cfg, batches)
        if precision == "fp32":
            with FlopCounterMode(display=False) as counter:
                step()
            flops = counter.get_total_flops()
        step_s[precision] = best_of(step, repeats=4)
        eval_s[precision] = best_of(lambda: evaluate(net, data.val, max_samples=n_eval), repeats=2)
        tops[precision] = _top_ops(step)
    peak = {p: conv_peak_gflops(p) for p in ("fp32", "bf16")}
    native = cpu_has_native_bf16()
    rows += [
        ("CPU has native bf16 (avx512_bf16 / amx_bf16)", {True: "yes", False: "no", None: "unknown"}[native]),
        ("large-conv peak fp32 / bf16 (GFLOP/s)", f"{peak['fp32']:.0f} / {peak['bf16']:.0f}"),
        (f"training step fp32 / bf16 (s, {moments} moments × {views} views)",
         f"{step_s['fp32']:.3f} / {step_s['bf16']:.3f}"),
        ("training moments/s fp32 / bf16", f"{moments / step_s['fp32']:.1f} / {moments / step_s['bf16']:.1f}"),
        ("training speed-up bf16 / fp32 (target ≥ 1.5×)", f"{step_s['fp32'] / step_s['bf16']:.2f}×"),
        ("FLOP of one training step (fwd + bwd, FlopCounterMode)", f"{flops / 1e9:.1f} GFLOP"),
        ("training step's share of the large-conv peak, fp32 / bf16",
         f"{100 * flops / step_s['fp32'] / 1e9 / peak['fp32']:.0f} % / {100 * flops / step_s['bf16'] / 1e9 / peak['bf16']:.0f} %"),
        ("evaluation images/s fp32 / bf16", f"{n_eval * views / eval_s['fp32']:.0f} / {n_eval * views / eval_s['bf16']:.0f}"),
        ("one step's top 8 ops by self CPU time, fp32 (ms)", tops["fp32"]),
        ("one step's top 8 ops by self CPU time, bf16 (ms)", tops["bf16"]),
    ]
    if compile_detector:
        rows += _compile_rows(cfg, data, batches, step_s, n_eval)
    return rows


QUICK_STEPS = 240   # the studies' quick budget (3 epochs × 80 steps)


def _compile_rows(cfg, data, batches, step_s: dict[str, float], n_eval: int) -> list[tuple[str, str]]:
    """torch.compile of the backbone against its cost in a quick run, per precision: the
    steady step, the first step (compile), and the first evaluation pass (train and eval mode
    are different graphs, so evaluation compiles again). Net gain over a quick run =
    240 × (eager step − compiled step) − both compile costs; adopted only if > 0 in both."""
    from maskpose_core.train.evaluate import evaluate
    from maskpose_core.train.fit import build_model
    rows, gains = [], {}
    for precision in ("fp32", "bf16"):
        torch._dynamo.reset()   # a cold in-process cache for each precision (inductor's disk cache may be warm)
        net = build_model(cfg, data).set_precision(precision)
        net.compile_backbone()                                  # what train.compile=true does in fit
        cstep = make_step(net, cfg, batches)
        t0 = time.perf_counter()
        cstep()
        first_step = time.perf_counter() - t0
        t_c = best_of(cstep, repeats=4)
        t0 = time.perf_counter()
        evaluate(net, data.val, max_samples=n_eval)
        first_eval = time.perf_counter() - t0
        t_eval = best_of(lambda: evaluate(net, data.val, max_samples=n_eval), repeats=1)
        compile_s = (first_step - t_c) + max(0.0, first_eval - t_eval)
        gains[precision] = QUICK_STEPS * (step_s[precision] - t_c) - compile_s
        rows += [(f"training step, torch.compile'd backbone, {precision} (s)", f"{t_c:.3f}"),
                 (f"compile time, first training step + first evaluation, {precision} (s)",
                  f"{first_step - t_c:.1f} + {max(0.0, first_eval - t_eval):.1f}"),
                 (f"net gain over a quick run of {QUICK_STEPS} steps, {precision} (s; > 0 wins)",
                  f"{gains[precision]:+.0f}")]
    adopted = all(g > 0 for g in gains.values())
    rows.append(("torch.compile of the backbone adopted (wins in both precisions)", "yes" if adopted else "no"))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    ap.add_argument("--skip-ray", action="store_true", help="leave out the Ray Train / Tune measurements")
    ap.add_argument("--skip-compile", action="store_true",
                    help="leave out the torch.compile'd render (its C++ build takes ≈ 40 s)")
    ap.add_argument("--out", default=str(REPO / "reports" / "benchmarks.md"))
    args = ap.parse_args(argv)
    started = time.time()
    render_rows, render_s_per_mask = bench_render(compile_render=not args.skip_compile)
    sections = [("Skeleton mask (512 masks of 32×32, 24 segments)", render_rows),
                (f"Training and evaluation ({args.profile} profile)", bench_training(args.profile, render_s_per_mask)),
                (f"Precision: fp32 vs bf16 ({args.profile} profile, train.precision)",
                 bench_precision(args.profile, compile_detector=not args.skip_compile))]
    if not args.skip_ray:
        from orchestration.benchmarks import bench_orchestration
        sections.append(("Orchestration (Ray Train / Tune)", bench_orchestration(args.profile)))
    git = git_state(REPO)
    command = "python studies/benchmarks.py" + ("" if args.profile == "quick" else f" --profile {args.profile}") \
        + (" --skip-ray" if args.skip_ray else "") + (" --skip-compile" if args.skip_compile else "")
    lines = ["# Benchmarks", "",
             f"- command: `{command}`",
             f"- data set: cmu-mv4 (synthetic, built in; {args.profile} build)",
             f"- profile: {args.profile}",
             f"- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}",
             f"- git commit: {git['git_commit']}" + (" (uncommitted changes)" if git["git_dirty"] == "true" else ""),
             f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- wall time of the command: {(time.time() - started) / 60:.1f} min", "",
             "Every ratio is measured side by side in this one run (best of several repeats).", ""]
    for title, rows in sections:
        lines += [f"## {title}", "", "| measure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(out)
    if out.parent == REPO / "reports":
        from studies.runner.index import write_index
        write_index(out.parent, REPO / "studies")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
