"""Dataset statistics and the energy/force distribution figure used in docs/datasets.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bsct.data.io import get_energy, get_forces, read_structures


def ci_files() -> list[Path]:
    """Every committed ci file, ordered by system then split."""
    from bsct.data import SPLITS, SYSTEMS, ci_path

    out = []
    for system in SYSTEMS:
        for split in SPLITS:
            try:
                out.append(ci_path(system, split))
            except FileNotFoundError:
                pass
    return out


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def dataset_stats(path: str | Path) -> dict:
    """Counts and label statistics of one file (energies per atom in eV, force components in eV/Å)."""
    path = Path(path)
    frames = read_structures(path)
    n_atoms = np.array([len(a) for a in frames])
    e_per_atom = np.array([get_energy(a) / len(a) for a in frames])
    forces = np.concatenate([get_forces(a) for a in frames])
    config_types = sorted({str(a.info.get("config_type", "?")) for a in frames})
    return {
        "name": _name(path),
        "path": str(path),
        "bytes": path.stat().st_size,
        "n_frames": len(frames),
        "n_atoms_total": int(n_atoms.sum()),
        "n_atoms_min": int(n_atoms.min()),
        "n_atoms_max": int(n_atoms.max()),
        "elements": "".join(sorted({s for a in frames for s in a.get_chemical_symbols()})),
        "periodic_frames": int(sum(bool(a.pbc.any()) for a in frames)),
        "energy_per_atom_mean_ev": float(e_per_atom.mean()),
        "energy_per_atom_std_ev": float(e_per_atom.std()),
        "force_rms_ev_per_angstrom": float(np.sqrt((forces**2).mean())),
        "force_max_ev_per_angstrom": float(np.abs(forces).max()),
        "config_types": config_types,
    }


def markdown_table(stats: list[dict]) -> str:
    rows = [("| set | frames | atoms/frame | elements | periodic | E/atom mean ± std (eV) | F rms (eV/Å) | "
             "max abs F (eV/Å) | size (kB) |"),
            "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for s in stats:
        rows.append(f"| {s['name']} | {s['n_frames']} | {s['n_atoms_min']}–{s['n_atoms_max']} | {s['elements']} | "
                    f"{s['periodic_frames']} | {s['energy_per_atom_mean_ev']:.3f} ± {s['energy_per_atom_std_ev']:.3f} | "
                    f"{s['force_rms_ev_per_angstrom']:.3f} | {s['force_max_ev_per_angstrom']:.2f} | "
                    f"{s['bytes'] / 1000:.0f} |")
    return "\n".join(rows)


def element_reference_ev(frames_by_split: dict[str, list]) -> dict[int, float]:
    """Least-squares energy per element ε_Z such that E ≈ Σ_Z n_Z ε_Z over all frames given."""
    frames = [a for fr in frames_by_split.values() for a in fr]
    zs = sorted({int(z) for a in frames for z in a.numbers})
    counts = np.array([[np.sum(a.numbers == z) for z in zs] for a in frames], dtype=float)
    energies = np.array([get_energy(a) for a in frames])
    eps, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return dict(zip(zs, eps.tolist()))


def plot_distributions(paths: list[str | Path]):
    """Figure: per system, histograms of the energy per atom after subtracting a least-squares
    per-element reference (E − Σ_Z n_Z ε_Z) / n_atoms, so molecules of different composition
    share one axis, and of force components (log counts); one colour per split. Returns the
    figure; the caller saves it."""
    import matplotlib.pyplot as plt

    by_system: dict[str, list[Path]] = {}
    for p in map(Path, paths):
        by_system.setdefault(p.parent.name, []).append(p)
    systems = list(by_system)
    fig, axes = plt.subplots(2, len(systems), figsize=(3.6 * len(systems), 5.6), squeeze=False)
    for col, system in enumerate(systems):
        frames_by_split = {p.stem: read_structures(p) for p in by_system[system]}
        eps = element_reference_ev(frames_by_split)
        for split, frames in frames_by_split.items():
            e = np.array([(get_energy(a) - sum(eps[int(z)] for z in a.numbers)) / len(a) for a in frames])
            f = np.concatenate([get_forces(a) for a in frames]).reshape(-1)
            axes[0, col].hist(e, bins=30, alpha=0.55, label=split)
            axes[1, col].hist(f, bins=60, alpha=0.55, label=split, log=True)
        axes[0, col].set_title(system)
        axes[0, col].set_xlabel("(E − Σ n_Z ε_Z) / atom (eV)")
        axes[1, col].set_xlabel("force component (eV/Å)")
    axes[0, 0].set_ylabel("frames")
    axes[1, 0].set_ylabel("components")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig
