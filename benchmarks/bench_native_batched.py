"""Native batched CHGNet / SevenNet against the frame-at-a-time ASE path, interleaved in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_native_batched.py fsd --model chgnet:0.3.0 \
        --data /path/to/bsct_spice --systems 20 --repeats 2
    OMP_NUM_THREADS=1 python benchmarks/bench_native_batched.py calls --model chgnet:0.3.0
    OMP_NUM_THREADS=1 python benchmarks/bench_native_batched.py angles --data /path/to/bsct_spice
    OMP_NUM_THREADS=1 python benchmarks/bench_native_batched.py scan --model chgnet:0.3.0 --points 60 [--max-per-type 3]

``fsd``: ``run_fsd`` with the native adapter (``--model``) against the loop a user writes without
bsct: read each system, ``atoms.calc = <the package's own calculator>`` frame by frame (CHGNet's
molecules in the same vacuum box bsct uses), then the FSD. Systems: ``--systems`` picked round-robin
over the nine bond types in ``system_dirs`` order (the first system of every type, then the
second, ...), so 20 covers all nine. Both sides read the data and compute the metric; they run
system by system in alternating order, so both see the same load, and the ratio is of the summed
times. ``--old-path`` adds
``run_fsd`` with ``SPEC[ase=True]`` (bsct's previous path) as a third column.

``calls``: milliseconds per frame against structures per model call, small to 40 atoms.

``angles``: native CHGNet with and without its last angle update (dead work the adapter skips),
interleaved: seconds and whether energies and forces are bit-for-bit equal.

``scan``: ``bsct scan`` (the command line, model loading and the report included) on a 4-atom fcc
Cu cell with ``--points`` points per scan, ``SPEC[ase=True]`` against ``SPEC``, interleaved.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from bench_fsd import baseline_loop  # benchmarks/ is on the path when this file runs as a script

from bsct.data.bsct_spice import read_system, system_dirs
from bsct.fsd.run import run_fsd
from bsct.potentials.ase_adapters import in_vacuum_box
from bsct.registry import load_potential


def round_robin_systems(root: Path, n: int) -> list[Path]:
    """``n`` systems over all bond types: the first of every type, then the second, ..."""
    every = system_dirs(root)
    by_type: dict[str, list[Path]] = {}
    for path in every:
        by_type.setdefault(path.parent.name, []).append(path)
    picked, depth = [], 0
    while len(picked) < n and any(len(v) > depth for v in by_type.values()):
        picked += [v[depth] for v in by_type.values() if len(v) > depth][: n - len(picked)]
        depth += 1
    order = {p: k for k, p in enumerate(every)}  # the release listed once, not once per pick
    return sorted(picked, key=order.__getitem__)


def own_calculator(spec: str):
    """The package's own ASE calculator of SPEC, and ``prepare(atoms)``: the copy it sees (CHGNet's
    molecules in the vacuum box bsct uses)."""
    family, _, version = spec.partition(":")
    if family == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        net = CHGNet.load(model_name=version or "0.3.0", use_device="cpu", verbose=False)
        return (CHGNetCalculator(net, use_device="cpu", on_isolated_atoms="ignore"),
                lambda atoms: in_vacuum_box(atoms, 6.0, "CHGNet"))
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(version or "7net-0", device="cpu"), Atoms.copy


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_fsd(args) -> None:
    """Each system through every side in turn (the order alternating by system and repeat), so
    all sides see the same load on a shared machine; times summed over systems and repeats."""
    root = Path(args.data)
    paths = round_robin_systems(root, args.systems)
    native = load_potential(args.model)
    calc, prepare = own_calculator(args.model)

    def fsd_of(potential):
        return lambda path: [row["full_smoothness"] for row in
                             run_fsd(potential, root, None, progress=False, system_paths=[path])["systems"].values()]

    sides = {"ASE loop": lambda path: baseline_loop(lambda scan: calc, [path], prepare)[1],
             "bsct fsd native": fsd_of(native)}
    if args.old_path:
        sides["bsct fsd [ase=True]"] = fsd_of(load_potential(args.model + "[ase=True]"))
    seconds = dict.fromkeys(sides, 0.0)
    fsd: dict[str, list[float]] = {name: [] for name in sides}
    for rep in range(args.repeats):
        for k, path in enumerate(paths):
            order = list(sides) if (k + rep) % 2 == 0 else list(reversed(sides))
            for name in order:
                dt, values = timed(lambda: sides[name](path))
                seconds[name] += dt
                if rep == 0:
                    fsd[name] += values
            print(f"repeat {rep}, {path.parent.name}/{path.name}: " + ", ".join(f"{n} {seconds[n]:.0f} s"
                  for n in sides), file=sys.stderr, flush=True)
    n_frames = sum(len(read_system(p).frames) for p in paths)
    ref = np.asarray(fsd["ASE loop"])
    worst = max(float(np.max(np.abs(np.asarray(v) - ref) / np.abs(ref))) for v in fsd.values())
    assert worst < 1e-4, f"FSD values disagree (worst relative difference {worst:.2e})"
    print(f"\n{_machine()}; {len(paths)} systems ({len({p.parent.name for p in paths})} bond types), "
          f"{n_frames} frames, {args.repeats} repeat(s) interleaved system by system; FSD agrees to {worst:.1e} "
          "(relative)\n")
    print("| model | path | seconds (sum of repeats) | frames/s | speed-up over the ASE loop |")
    print("|---|---|---|---|---|")
    for name, s in seconds.items():
        print(f"| {native.name} | {name} | {s:.1f} | {n_frames * args.repeats / s:.1f} | "
              f"{seconds['ASE loop'] / s:.2f}x |")


def bench_scan(args) -> None:
    from ase.build import bulk
    from ase.io import write

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cu4.extxyz"
        write(data, bulk("Cu", "fcc", a=3.61, cubic=True))
        sides = {"ASE calculator": args.model + "[ase=True]", "native batched": args.model}
        seconds = dict.fromkeys(sides, 0.0)
        for rep in range(args.repeats):
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for name in order:
                out = Path(tmp) / f"{name.replace(' ', '_')}_{rep}"
                cmd = [sys.executable, "-m", "bsct.cli", "scan", "--threads", "1", "--model", sides[name],
                       "--data", str(data), "--out", str(out), "--points", str(args.points),
                       "--max-per-type", str(args.max_per_type)]
                dt, proc = timed(lambda: subprocess.run(cmd, capture_output=True, text=True))
                if proc.returncode not in (0, 1):
                    raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
                seconds[name] += dt
                print(f"repeat {rep}: {name} {dt:.1f} s: {proc.stdout.strip()[-200:]}", file=sys.stderr, flush=True)
    print(f"\n{_machine()}; `bsct scan --points {args.points} --max-per-type {args.max_per_type}` on a 4-atom "
          f"fcc Cu cell (main's cell growth), "
          f"{args.repeats} interleaved repeat(s)\n")
    print("| SPEC | path | wall seconds per run | speed-up |")
    print("|---|---|---|---|")
    for name, s in seconds.items():
        print(f"| `{sides[name]}` | {name} | {s / args.repeats:.1f} | {seconds['ASE calculator'] / s:.2f}x |")


def bench_calls(args) -> None:
    """Per-frame cost against structures per model call (the adapter's edge grouping off), and the
    ASE calculator one frame per call: 16 rattled frames each of a CO dimer, a 4-atom Cu cell and
    the first C-C system of the shipped BSCT-SPICE subset (40 atoms), interleaved."""
    from ase.build import bulk

    from bsct.data.bsct_spice import read_system, sample_root
    from bsct.potentials.evaluate import evaluate

    native = load_potential(args.model + "[max_edges_per_call=1000000000]")
    old = load_potential(args.model + "[ase=True]")
    cases = {"CO dimer": Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.2]]),
             "Cu fcc, 4 atoms": bulk("Cu", "fcc", a=3.61, cubic=True),
             "C-C scan molecule (shipped subset)": read_system(system_dirs(sample_root(), ["C-C"])[0]).frames[0]}
    per_call = (1, 4, 16)
    if args.scan_cell:  # the 256-atom cell main's `bsct scan` grows the 4-atom Cu cell to (4x4x4)
        cases, per_call = {"Cu fcc, 256 atoms": bulk("Cu", "fcc", a=3.61, cubic=True) * (4, 4, 4)}, (1,)
    n_frames = args.frames
    print(f"\n{_machine()}; {native.name}; ms per frame (atoms: CO 2, Cu 4, C-C 8), mean of {args.repeats} "
          f"interleaved repeats of {n_frames} frames\n")
    print("| structure | ASE calculator | " + " | ".join(f"native, {k} per call" for k in per_call) + " |")
    print("|---|---|" + "---|" * len(per_call))
    for label, base in cases.items():
        frames = []
        for seed in range(n_frames):
            atoms = base.copy()
            atoms.rattle(0.05, seed=seed)
            frames.append(atoms)
        n = len(base)
        runs = {"ase": lambda: evaluate(old, frames, n),
                **{k: (lambda k=k: evaluate(native, frames, k * n)) for k in per_call}}
        seconds = dict.fromkeys(runs, 0.0)
        for rep in range(args.repeats):
            for key in (list(runs) if rep % 2 == 0 else list(reversed(runs))):
                seconds[key] += timed(runs[key])[0]
        ms = {k: 1000 * v / (n_frames * args.repeats) for k, v in seconds.items()}
        print(f"| {label} | {ms['ase']:.0f} | " + " | ".join(f"{ms[k]:.0f}" for k in per_call) + " |", flush=True)


def bench_angles(args) -> None:
    from ase.build import bulk
    from chgnet.model import CHGNet

    from bsct.potentials.chgnet_native import CHGNetPotential
    from bsct.potentials.evaluate import evaluate

    skipping, full = CHGNetPotential("0.3.0"), CHGNetPotential("0.3.0")
    own = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    full._net.angle_layers[-1] = own.angle_layers[-1].eval().requires_grad_(False)  # put CHGNet's own back
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    cu.rattle(0.01, seed=1)
    cases = {"C-C/10423 (40 atoms), 20 frames": read_system(Path(args.data) / "C-C" / "10423").frames[:20],
             "fcc Cu, 108 atoms, 4 frames": [cu.copy() for _ in range(4)]}
    print(f"\n{_machine()}; seconds, mean of {args.repeats} interleaved repeats\n")
    print("| structures | CHGNet's last angle layer | skipped | speed-up | equal bit for bit |")
    print("|---|---:|---:|---:|---|")
    for label, frames in cases.items():
        seconds, outs = {"full": 0.0, "skip": 0.0}, {}
        for rep in range(args.repeats):
            for key in (("full", "skip") if rep % 2 == 0 else ("skip", "full")):
                dt, outs[key] = timed(lambda: evaluate(full if key == "full" else skipping, frames))
                seconds[key] += dt
        same = all(np.array_equal(getattr(outs["full"], k), getattr(outs["skip"], k))
                   for k in ("energy_ev", "forces_ev_per_angstrom"))
        print(f"| {label} | {seconds['full'] / args.repeats:.2f} | {seconds['skip'] / args.repeats:.2f} | "
              f"{seconds['full'] / seconds['skip']:.2f}x | {same} |")


def _machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, threads "
            f"{torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average "
            f"{os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fsd = sub.add_parser("fsd")
    fsd.add_argument("--model", default="chgnet:0.3.0")
    fsd.add_argument("--data", required=True, help="BSCT-SPICE root (the full release, unpacked)")
    fsd.add_argument("--systems", type=int, default=20)
    fsd.add_argument("--repeats", type=int, default=2)
    fsd.add_argument("--old-path", action="store_true", help="also time run_fsd with SPEC[ase=True]")
    scan = sub.add_parser("scan")
    scan.add_argument("--model", default="chgnet:0.3.0")
    scan.add_argument("--points", type=int, default=60)
    calls = sub.add_parser("calls")
    calls.add_argument("--model", default="chgnet:0.3.0")
    calls.add_argument("--repeats", type=int, default=2)
    calls.add_argument("--frames", type=int, default=16)
    calls.add_argument("--scan-cell", action="store_true", help="only the 256-atom Cu cell of main's Cu4 scan")
    scan.add_argument("--max-per-type", type=int, default=3, help="bonds scanned (bsct scan's default: 3)")
    scan.add_argument("--repeats", type=int, default=1)
    angles = sub.add_parser("angles")
    angles.add_argument("--data", required=True, help="BSCT-SPICE root (the full release, unpacked)")
    angles.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"fsd": bench_fsd, "scan": bench_scan, "calls": bench_calls, "angles": bench_angles}[args.what](args)


if __name__ == "__main__":
    main()
