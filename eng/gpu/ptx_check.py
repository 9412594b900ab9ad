#!/usr/bin/env python3
"""Checks the nvcc-built PTX of kernels/cuda against PyTorch on a GPU, without .NET or TorchSharp.

Each kernel of build/ptx/*.ptx is loaded with CuPy (cupy.RawModule(path=...)) and launched exactly as its C#
launcher does (src/Csr.Kernels/DpoLogRatio/DpoLogRatio.Cuda.cs, src/Csr.Kernels/BeamStep/BeamStepRows.Gpu.cs:
one block of 256 threads per row; src/Csr.Kernels/ClipScoring/ClipScoring.Cuda.cs: one block of 128 per sentence) at the benchmark shapes of bench/Csr.Bench/Kernels/GpuCheck.cs. Outputs are
compared with a PyTorch reference by |got - ref| <= atol + rtol * |ref| (first mismatches printed), then the
kernel and the equivalent PyTorch eager ops are timed and their achieved bandwidth is stated against the HBM
peak (4.8 TB/s for an H200).

    python3 eng/gpu/ptx_check.py [--ptx-dir build/ptx] [--json OUT.json] [--reps 20] [--peak-gbs 4800]
    python3 eng/gpu/ptx_check.py --dry-run      # no GPU needed: parse the PTX, list kernels, check coverage

Exit codes: 0 = every check passed (or --dry-run / no GPU: nothing launched, said so), 1 = a mismatch or a
kernel failed to load or launch, 2 = bad arguments or missing PTX.
"""

import argparse
import json
import pathlib
import re
import sys
import time

THREADS = 256  # blockDim.x of every launcher (and BEAM_THREADS in beam_step.cu)
BEAM_MAX_K = 64

# Every kernel entry the PTX must contain, by module: the checks below launch each one.
KERNELS = {
    "dpo_logratio": ["dpo_rows_f32", "dpo_rows_bf16", "dpo_backward_f32", "dpo_backward_bf16"],
    "beam_step": ["beam_rows_f32", "beam_rows_bf16"],
    "clip_scoring": ["clip_pair_f32", "clip_pair_bf16"],
}
CLIP_THREADS = 128  # blockDim.x of ClipScoring.Cuda.cs (CLIP_THREADS in clip_scoring.cu)


def ptx_entries(path):
    """Names of the .entry (kernel) functions in a PTX file."""
    return re.findall(r"\.entry\s+([A-Za-z_][A-Za-z0-9_$]*)", path.read_text())


def check_ptx_files(ptx_dir):
    """Every expected module exists and exports its kernels; every kernel found is covered by a check."""
    problems, found = [], {}
    for module, kernels in KERNELS.items():
        path = ptx_dir / f"{module}.ptx"
        if not path.exists():
            problems.append(f"{path} not found (run eng/build-ptx.sh)")
            continue
        entries = ptx_entries(path)
        found[module] = entries
        text = path.read_text()
        target = re.search(r"\.target\s+(\S+)", text)
        version = re.search(r"\.version\s+(\S+)", text)
        print(f"ptx: {path} (PTX ISA {version.group(1) if version else '?'}, target {target.group(1) if target else '?'}): {', '.join(entries)}")
        for k in kernels:
            if k not in entries:
                problems.append(f"{path}: kernel {k} missing")
        for e in entries:
            if e not in kernels:
                problems.append(f"{path}: kernel {e} has no check in eng/gpu/ptx_check.py")
    for extra in sorted(set(p.stem for p in ptx_dir.glob("*.ptx")) - set(KERNELS)):
        problems.append(f"{ptx_dir / (extra + '.ptx')}: module has no check in eng/gpu/ptx_check.py")
    return problems, found


class Report:
    def __init__(self):
        self.checks, self.timings = [], []

    def compare(self, name, ref, got, atol, rtol, show=5):
        import torch
        ref = ref.float()
        got = got.float()
        if ref.shape != got.shape:
            self.checks.append({"name": name, "ok": False, "detail": f"shape {tuple(got.shape)} != {tuple(ref.shape)}"})
            print(f"FAIL {name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
            return
        err = (got - ref).abs()
        tol = atol + rtol * ref.abs()
        bad = ~(err <= tol) | (torch.isnan(got) != torch.isnan(ref))
        nbad = int(bad.sum())
        max_err = float(torch.nan_to_num(err, nan=float("inf")).max()) if err.numel() else 0.0
        ok = nbad == 0
        detail = f"max |err| {max_err:.3g}, atol {atol:g} rtol {rtol:g}, {nbad} of {ref.numel()} outside"
        if not ok:
            idx = bad.flatten().nonzero()[:show].flatten().tolist()
            firsts = ", ".join(f"[{i}] got {got.flatten()[i].item():.6g} ref {ref.flatten()[i].item():.6g}" for i in idx)
            detail += f"; first: {firsts}"
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    def equal(self, name, ref, got):
        self.compare(name, ref.double(), got.double(), 0.0, 0.0)

    def time(self, name, fn, nbytes, reps, peak_gbs, kind):
        import torch
        fn()
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(stop) / reps
        gbs = nbytes / (ms * 1e-3) / 1e9
        self.timings.append({"name": name, "kind": kind, "ms": ms, "bytes": nbytes, "gbs": gbs, "peak_fraction": gbs / peak_gbs})
        print(f"time {name} [{kind}]: {ms:.3f} ms, {gbs:.0f} GB/s = {100 * gbs / peak_gbs:.0f}% of {peak_gbs:.0f} GB/s")


def as_cupy(t):
    """Zero-copy CuPy view of a CUDA tensor (bf16 as its uint16 bits: the kernels read unsigned short)."""
    import cupy
    import torch
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return cupy.asarray(t)


def check_dpo(mod, rep, args, dtype_name):
    """dpo_rows_* and dpo_backward_* on [N, T, V] logits against log_softmax / autograd in float32."""
    import cupy
    import numpy as np
    import torch
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    g = torch.Generator(device="cuda").manual_seed(1)
    n, t, v = args.dpo_shape
    rows = n * t
    x = (torch.randn(n, t, v, device="cuda", generator=g) * 3).to(dtype)
    labels = torch.randint(0, v, (n, t), device="cuda", generator=g, dtype=torch.int64)
    valid = (torch.rand(n, t, device="cuda", generator=g) > 0.2).float()
    lp = torch.empty(rows, device="cuda")
    lse = torch.empty(rows, device="cuda")
    fwd = mod.get_function(f"dpo_rows_{dtype_name}")
    launch_fwd = lambda: fwd((rows,), (THREADS,), (as_cupy(x), as_cupy(labels), as_cupy(valid), as_cupy(lp), as_cupy(lse), np.int32(rows), np.int32(v)))
    launch_fwd()
    cupy.cuda.Device().synchronize()

    xf = x.float().reshape(rows, v).requires_grad_(True)
    ref_lse = torch.logsumexp(xf, -1).detach()
    ref_row = xf.log_softmax(-1).gather(-1, labels.reshape(rows, 1)).squeeze(-1) * valid.reshape(rows)
    rep.compare(f"dpo_rows_{dtype_name} row log-prob [{n}x{t}x{v}]", ref_row.detach(), lp, 2e-3, 1e-5)
    rep.compare(f"dpo_rows_{dtype_name} row logsumexp (counted rows)", ref_lse * valid.reshape(rows), lse * valid.reshape(rows), 2e-3, 1e-5)
    rep.compare(f"dpo_rows_{dtype_name} sequence log-prob [{n}]", ref_row.detach().reshape(n, t).sum(1), lp.reshape(n, t).sum(1), 0.5, 1e-5)

    gout = torch.randn(n, device="cuda", generator=g)
    (ref_row.reshape(n, t).sum(1) * gout).sum().backward()
    grad = torch.empty_like(x)
    bwd = mod.get_function(f"dpo_backward_{dtype_name}")
    launch_bwd = lambda: bwd((rows,), (THREADS,), (as_cupy(x), as_cupy(labels), as_cupy(valid), as_cupy(lse), as_cupy(gout), as_cupy(grad),
                                                  np.int32(rows), np.int32(t), np.int32(v)))
    launch_bwd()
    cupy.cuda.Device().synchronize()
    tol = (1e-2, 1e-2) if dtype == torch.bfloat16 else (1e-5, 1e-3)
    rep.compare(f"dpo_backward_{dtype_name} dlogits", xf.grad.reshape(n, t, v), grad, *tol)

    # Timing at the bandwidth shape: device-resident logits, every row counted.
    tr, tv = args.dpo_time_shape
    xt = torch.randn(tr, tv, device="cuda", generator=g).to(dtype)
    lt = torch.randint(0, tv, (tr,), device="cuda", generator=g, dtype=torch.int64)
    vt = torch.ones(tr, device="cuda")
    lpt, lset = torch.empty(tr, device="cuda"), torch.empty(tr, device="cuda")
    gt = torch.ones(tr, device="cuda")
    gradt = torch.empty_like(xt)
    ptrs = [as_cupy(a) for a in (xt, lt, vt, lpt, lset, gt, gradt)]
    esz = xt.element_size()
    rep.time(f"dpo_rows_{dtype_name} [{tr}x{tv}]", lambda: fwd((tr,), (THREADS,), (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], np.int32(tr), np.int32(tv))),
             tr * tv * esz, args.reps, args.peak_gbs, "kernel")
    rep.time(f"dpo_rows_{dtype_name} [{tr}x{tv}]", lambda: xt.float().log_softmax(-1).gather(-1, lt[:, None]),
             tr * tv * esz, args.reps, args.peak_gbs, "torch eager: float().log_softmax().gather()")
    rep.time(f"dpo_backward_{dtype_name} [{tr}x{tv}]", lambda: bwd((tr,), (THREADS,), (ptrs[0], ptrs[1], ptrs[2], ptrs[4], ptrs[5], ptrs[6], np.int32(tr), np.int32(1), np.int32(tv))),
             2 * tr * tv * esz, args.reps, args.peak_gbs, "kernel")
    onehot_lab = lt[:, None]

    def eager_backward():
        sm = torch.softmax(xt.float(), -1)
        return (-sm).scatter_add_(-1, onehot_lab, torch.ones_like(onehot_lab, dtype=sm.dtype)).to(dtype)
    rep.time(f"dpo_backward_{dtype_name} [{tr}x{tv}]", eager_backward, 2 * tr * tv * esz, args.reps, args.peak_gbs,
             "torch eager: onehot - softmax(float())")
    del xt, gradt


def check_beam(mod, rep, args, dtype_name):
    """beam_rows_*: per-row max, log(sum exp(x - max)) and top-K (value desc, index asc) against torch."""
    import cupy
    import numpy as np
    import torch
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    g = torch.Generator(device="cuda").manual_seed(2)
    groups, beams, v = args.beam_shape
    rows = groups * beams
    k = min(v, 2 * beams + (groups - 1) * beams)  # BeamStep.Prepare's K
    if k > BEAM_MAX_K:
        raise SystemExit(f"--beam-shape gives K = {k} > {BEAM_MAX_K} (BEAM_MAX_K)")
    fn = mod.get_function(f"beam_rows_{dtype_name}")

    def run(x):
        r = x.shape[0]
        out = (torch.empty(r, device="cuda"), torch.empty(r, device="cuda"), torch.empty(r * k, device="cuda"),
               torch.empty(r * k, device="cuda", dtype=torch.int32))
        kargs = (as_cupy(x), np.int32(r), np.int32(x.shape[1]), np.int32(k), *[as_cupy(o) for o in out])
        return out, (lambda: fn((r,), (THREADS,), kargs))

    x = (torch.randn(rows, v, device="cuda", generator=g) * 3).to(dtype)
    (rmax, logsum, topv, topi), launch = run(x)
    launch()
    cupy.cuda.Device().synchronize()
    xf = x.float()
    ref_max = xf.max(-1).values
    ref_logsum = torch.log(torch.exp(xf - ref_max[:, None]).sum(-1))
    # Stable descending sort: equal values keep ascending index order, the kernels' tie rule (bf16 has many ties).
    sv, si = torch.sort(xf, dim=-1, descending=True, stable=True)
    rep.equal(f"beam_rows_{dtype_name} row max [{rows}x{v}]", ref_max, rmax)
    rep.compare(f"beam_rows_{dtype_name} row log-sum-exp", ref_logsum, logsum, 1e-4, 1e-5)
    rep.equal(f"beam_rows_{dtype_name} top-{k} values", sv[:, :k], topv.reshape(rows, k))
    rep.equal(f"beam_rows_{dtype_name} top-{k} indices", si[:, :k].int(), topi.reshape(rows, k))

    batch = args.beam_time_batch
    xt = torch.randn(rows * batch, v, device="cuda", generator=g).to(dtype)
    _, launch_t = run(xt)
    nbytes = xt.numel() * xt.element_size()
    rep.time(f"beam_rows_{dtype_name} [{rows}x{v}]", launch, x.numel() * x.element_size(), args.reps, args.peak_gbs, "kernel")
    rep.time(f"beam_rows_{dtype_name} [{rows * batch}x{v}]", launch_t, nbytes, args.reps, args.peak_gbs, "kernel")

    def eager():
        xf_ = xt.float()
        return xf_.max(-1).values, torch.logsumexp(xf_, -1), torch.topk(xf_, k, -1)
    rep.time(f"beam_rows_{dtype_name} [{rows * batch}x{v}]", eager, nbytes, args.reps, args.peak_gbs, "torch eager: max + logsumexp + topk")


def check_clip(mod, rep, args, dtype_name):
    """clip_pair_*: scale * cos(image[idx[s]], sentence[s]) (clamped at 0 or not) against F.normalize + dot."""
    import cupy
    import numpy as np
    import torch
    import torch.nn.functional as F
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    g = torch.Generator(device="cuda").manual_seed(3)
    ni, ns, d = args.clip_shape
    img = torch.randn(ni, d, device="cuda", generator=g).to(dtype)
    sent = torch.randn(ns, d, device="cuda", generator=g).to(dtype)
    idx = torch.randint(0, ni, (ns,), device="cuda", generator=g, dtype=torch.int64)
    fn = mod.get_function(f"clip_pair_{dtype_name}")
    out = torch.empty(ns, device="cuda")
    for clamp in (0, 1):
        fn((ns,), (CLIP_THREADS,), (as_cupy(img), as_cupy(sent), as_cupy(idx), as_cupy(out), np.int32(ns), np.int32(d), np.float32(100.0), np.int32(clamp)))
        cupy.cuda.Device().synchronize()
        ref = (F.normalize(img.float(), dim=-1, eps=1e-12).index_select(0, idx) * F.normalize(sent.float(), dim=-1, eps=1e-12)).sum(-1) * 100.0
        if clamp:
            ref = ref.clamp_min(0)
        rep.compare(f"clip_pair_{dtype_name} scores [{ni}x{d}, {ns}x{d}] clamp {clamp}", ref, out, 1e-4, 1e-4)

    # Timing: bytes = both rows per sentence (the image rows are mostly L2 hits, so this overstates DRAM traffic
    # for few images) + index + score.
    nbytes = ns * (2 * d * img.element_size() + 12)
    ptrs = (as_cupy(img), as_cupy(sent), as_cupy(idx), as_cupy(out), np.int32(ns), np.int32(d), np.float32(100.0), np.int32(1))
    rep.time(f"clip_pair_{dtype_name} [{ns}x{d}]", lambda: fn((ns,), (CLIP_THREADS,), ptrs), nbytes, args.reps, args.peak_gbs, "kernel")
    rep.time(f"clip_pair_{dtype_name} [{ns}x{d}]",
             lambda: ((F.normalize(img.float(), dim=-1, eps=1e-12).index_select(0, idx) * F.normalize(sent.float(), dim=-1, eps=1e-12)).sum(-1) * 100.0).clamp_min(0),
             nbytes, args.reps, args.peak_gbs, "torch eager: normalize, index_select, mul, sum, clamp")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ptx-dir", default="build/ptx", type=pathlib.Path, help="folder with dpo_logratio.ptx, beam_step.ptx")
    p.add_argument("--json", type=pathlib.Path, help="write every check and timing here")
    p.add_argument("--reps", type=int, default=20, help="launches per timing")
    p.add_argument("--peak-gbs", type=float, default=4800.0, help="HBM peak for the percentages (H200: 4800 GB/s)")
    p.add_argument("--dpo-shape", type=int, nargs=3, default=[2, 1024, 32000], metavar=("N", "T", "V"))
    p.add_argument("--dpo-time-shape", type=int, nargs=2, default=[8 * 1024, 32000], metavar=("ROWS", "V"))
    p.add_argument("--beam-shape", type=int, nargs=3, default=[5, 5, 32000], metavar=("GROUPS", "BEAMS", "V"))
    p.add_argument("--clip-shape", type=int, nargs=3, default=[64, 4096, 768], metavar=("I", "S", "D"),
                   help="images, sentences, embedding width (bench/Csr.Bench/Kernels/ClipScoringBench.cs)")
    p.add_argument("--beam-time-batch", type=int, default=16, help="prompts per timed beam step (rows = G*B*batch)")
    p.add_argument("--dry-run", action="store_true", help="check the PTX files and arguments only; launch nothing")
    a = p.parse_args(argv)
    if a.reps < 1:
        p.error("--reps must be >= 1")
    if min(a.dpo_shape + a.dpo_time_shape + a.beam_shape + a.clip_shape) < 1 or a.beam_time_batch < 1:
        p.error("shapes must be positive")
    return a


def main(argv=None):
    args = parse_args(argv)
    result = {"ptx_dir": str(args.ptx_dir), "gpu": None, "checks": [], "timings": [], "status": ""}

    def finish(status, code):
        result["status"] = status
        print(f"ptx-check: {status}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return code

    problems, found = check_ptx_files(args.ptx_dir)
    result["kernels"] = found
    for pr in problems:
        print(f"ptx: {pr}")
    if any("not found" in pr for pr in problems):
        return finish("PTX missing", 2)
    if args.dry_run:
        return finish("dry run: PTX parsed, nothing launched" + ("" if not problems else f"; {len(problems)} problem(s)"), 1 if problems else 0)

    try:
        import torch
    except ImportError as e:
        return finish(f"no GPU check: PyTorch is not installed ({e})", 0)
    try:
        import cupy
    except ImportError as e:
        return finish(f"no GPU check: CuPy is not installed ({e})", 0)
    if not torch.cuda.is_available():
        return finish("no GPU check: torch.cuda.is_available() is False", 0)

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    try:  # CUDA 13 dropped memoryClockRate from cudaDeviceProp; the attribute query still answers
        clock_khz = props.get("memoryClockRate") or cupy.cuda.runtime.deviceGetAttribute(36, 0)  # cudaDevAttrMemoryClockRate
        bus_bits = props.get("memoryBusWidth") or cupy.cuda.runtime.deviceGetAttribute(37, 0)    # cudaDevAttrGlobalMemoryBusWidth
        theoretical = 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9
    except Exception:
        theoretical = 0.0
    result["gpu"] = {"name": name, "torch": torch.__version__, "cuda": torch.version.cuda, "cupy": cupy.__version__,
                     "driver": cupy.cuda.runtime.driverGetVersion(), "theoretical_gbs": theoretical, "peak_gbs_used": args.peak_gbs}
    print(f"gpu: {name}; torch {torch.__version__} (CUDA {torch.version.cuda}), CuPy {cupy.__version__}, driver API {cupy.cuda.runtime.driverGetVersion()}; "
          f"memory clock x bus = {theoretical:.0f} GB/s, percentages of {args.peak_gbs:.0f} GB/s")

    rep = Report()
    failed_loads = []
    for module, check in (("dpo_logratio", check_dpo), ("beam_step", check_beam), ("clip_scoring", check_clip)):
        try:
            mod = cupy.RawModule(path=str(args.ptx_dir / f"{module}.ptx"))
        except Exception as e:  # a PTX the driver's JIT rejects
            failed_loads.append(f"{module}.ptx: {type(e).__name__}: {e}")
            print(f"FAIL load {module}.ptx: {e}")
            continue
        for dt in ("f32", "bf16"):
            t0 = time.time()
            try:
                check(mod, rep, args, dt)
            except Exception as e:
                failed_loads.append(f"{module} {dt}: {type(e).__name__}: {e}")
                print(f"FAIL {module} {dt}: {type(e).__name__}: {e}")
            torch.cuda.empty_cache()
            print(f"({module} {dt}: {time.time() - t0:.1f} s)")
    result["checks"], result["timings"], result["errors"] = rep.checks, rep.timings, failed_loads + problems
    bad = [c["name"] for c in rep.checks if not c["ok"]]
    if bad or failed_loads or problems:
        return finish(f"FAILED: {len(bad)} mismatch(es), {len(failed_loads)} load/launch error(s), {len(problems)} PTX problem(s)", 1)
    return finish(f"OK: {len(rep.checks)} checks passed, {len(rep.timings)} timings", 0)


if __name__ == "__main__":
    sys.exit(main())
