#!/usr/bin/env python3
"""Assembles a PTX module with ptxas for each architecture given (in parallel) and summarises
registers and spills per kernel kind. Fails (exit 1) when ptxas fails or the PTX has no kernel.

    .ci/ptxas-summary.py target/debug/build/keops-*/out/keops-cuda sm_80 sm_90   # every .ptx there

Kernel kinds come from the names ptx-build's module uses: `keops_<hash>_<red|mv1|mv8>_<f32|f64>_<arm>`
(an arm is one `e<dim>` (exact dimension) or `u<capacity>` (bucket) per run-time slot), with
`_ranges` after the kind for a block-sparse launch, and the prelude's `keops_combine_*` /
`keops_cg_*`.
"""
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ENTRY = re.compile(r"Compiling entry function '([^']+)' for")
PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")
NAME = re.compile(r"^keops_[0-9a-f]{16}_(red|mv\d+)(_ranges)?_(f32|f64)_(.*)$")


class Run:
    """ptxas over several PTX files for one architecture, as if one run."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def assemble_one(ptx, arch, tmp):
    out = os.path.join(tmp, f"{os.path.basename(ptx)}-{arch}.cubin")
    cmd = ["ptxas", f"-arch={arch}", "-v", ptx, "-o", out]
    return cmd, subprocess.run(cmd, capture_output=True, text=True)


def assemble(ptxs, arch, tmp):
    start = time.monotonic()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        runs = list(pool.map(lambda f: assemble_one(f, arch, tmp), ptxs))
    failed = [(c, p) for c, p in runs if p.returncode != 0]
    cmd, p = failed[0] if failed else runs[0]
    merged = Run(p.returncode if failed else 0, "".join(r.stdout for _, r in runs),
                 "".join(r.stderr for _, r in runs))
    return arch, cmd, merged, time.monotonic() - start


def parse(text):
    kernels, cur = {}, None
    for line in text.splitlines():
        if m := ENTRY.search(line):
            cur = m.group(1)
            kernels[cur] = {"regs": 0, "stack": 0, "spill": 0}
        elif cur and (m := PROPS.search(line)):
            k = kernels[cur]
            k["stack"], k["spill"] = int(m.group(1)), int(m.group(2)) + int(m.group(3))
        elif cur and (m := USED.search(line)):
            kernels[cur]["regs"] = int(m.group(1))
            cur = None
    return kernels


def kind(name):
    m = NAME.match(name)
    if not m:
        return "prelude"
    # Arms with a bucket (`u<capacity>`) loop over run-time lengths; exact arms are unrolled.
    arm = "bucket" if re.search(r"(^|_)u\d+", m.group(4)) else "exact"
    # Block-sparse launches (KeOps' ranges) are instances of their own.
    ranges = " ranges" if m.group(2) else ""
    return f"{m.group(1)}{ranges} {m.group(3)} {arm}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ptx, archs = sys.argv[1], sys.argv[2:]
    # A directory: every .ptx in it (ptx-build writes one per formula).
    ptxs = sorted(os.path.join(ptx, f) for f in os.listdir(ptx) if f.endswith(".ptx")) \
        if os.path.isdir(ptx) else [ptx]
    if not ptxs or any(os.path.getsize(f) == 0 for f in ptxs):
        sys.exit(f"ptxas-summary: no PTX in {ptx} (was nvcc found? see keops-ptx-status.txt)")
    print(f"   {len(ptxs)} PTX files")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        results = [assemble(ptxs, a, tmp) for a in archs]
    for arch, cmd, p, secs in results:
        out = p.stdout + p.stderr
        problems = [l for l in out.splitlines() if re.search(r"\b(error|warning)\b", l, re.I)]
        print(f"== ptxas -arch={arch}: exit {p.returncode}, {secs:.1f} s")
        for l in problems[:20]:
            print(f"   {l}")
        if p.returncode != 0:
            ok = False
            print(f"   FAILED: {' '.join(cmd)}")
            print("\n".join("   " + l for l in out.splitlines()[-40:]))
            continue
        kernels = parse(out)
        if not kernels:
            ok = False
            print("   FAILED: no kernel in the PTX")
            continue
        groups = {}
        for name, k in kernels.items():
            groups.setdefault(kind(name), []).append((name, k))
        print(f"   {len(kernels)} kernels; max registers {max(k['regs'] for k in kernels.values())}; "
              f"{sum(k['spill'] > 0 for k in kernels.values())} with spills")
        print(f"   {'kind':<20} {'count':>5} {'regs max':>8} {'regs median':>11} {'spilling':>8} "
              f"{'spill B max':>11} {'stack B max':>11}")
        for g in sorted(groups):
            ks = [k for _, k in groups[g]]
            regs = sorted(k["regs"] for k in ks)
            print(f"   {g:<20} {len(ks):>5} {regs[-1]:>8} {regs[len(regs) // 2]:>11} "
                  f"{sum(k['spill'] > 0 for k in ks):>8} {max(k['spill'] for k in ks):>11} "
                  f"{max(k['stack'] for k in ks):>11}")
        spilling = sorted(((k["spill"], n) for n, k in kernels.items() if k["spill"] > 0), reverse=True)
        for spill, n in spilling[:10]:
            print(f"   spills {spill:>6} B: {n}")
        if len(spilling) > 10:
            print(f"   ... and {len(spilling) - 10} more kernels with spills")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
