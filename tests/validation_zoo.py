"""A synthetic zoo in the validation study's data contract, with known answers planted.

Each unit has a latent instability z ~ N(0, 1) and fails iff z > 0. ``pred:good`` and
``pred:bsct_v2_at_T`` are z plus a little noise (they separate); ``pred:random`` and
``pred:short_nve`` ignore z. Shared by tests/metrics and tests/report (``tests/`` is on sys.path
while pytest runs)."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

PROTOCOL = Path(__file__).parents[1] / "benchmarks" / "validation" / "protocol.toml"
CALIBRATION = ["transformer/baseline", "schnetpack/schnet", "nequip/allegro", "chgnet"]
HELD_OUT = ["transformer/final", "schnetpack/painn", "nequip/nequip", "sevennet"]
CONSTRUCTED = ["constructed/weakened", "constructed/planted"]


def protocol_analysis() -> dict:
    """The committed protocol's [analysis] and [split] tables, as ``bsct validate`` passes them."""
    protocol = tomllib.loads(PROTOCOL.read_text())
    return {"analysis": protocol["analysis"], "split": protocol["split"]}


def synthetic_zoo(seed: int = 0, potentials_per_family: int = 3, n_replicas: int = 4,
                  systems=("cu", "si"), temperatures_k=(300.0, 1000.0), run_ps: float = 5.5):
    """(units, replicas) DataFrames of 10 families (4 calibration, 4 held-out, 2 constructed)."""
    rng = np.random.default_rng(seed)
    units, replicas = [], []
    splits = [("calibration", CALIBRATION), ("held_out", HELD_OUT), ("constructed", CONSTRUCTED)]
    for split, families in splits:
        for family in families:
            for k in range(potentials_per_family):
                potential = f"{family}#{k}"
                for system in systems:
                    for t in temperatures_k:
                        z = rng.normal() + (1.0 if split == "constructed" else 0.0)
                        failed = rng.random(n_replicas) < (0.3 + 0.7 * rng.random() if z > 0 else 0.0)
                        failed[0] = failed[0] or z > 0  # a failing unit has at least one failed replica
                        classes = np.where(failed, np.where(rng.random(n_replicas) < 0.5, "conservation",
                                                            "structural"), "")
                        time_ps = np.where(failed, rng.uniform(0.1, run_ps, n_replicas) / (1 + max(z, 0)), run_ps)
                        units.append({
                            "potential": potential, "family": family, "split": split, "system": system,
                            "temperature_k": t, "pred:good": z + 0.05 * rng.normal(),
                            "pred:bsct_v2_at_T": z + 0.05 * rng.normal(), "pred:random": rng.normal(),
                            "pred:short_nve": rng.normal(), "any_failure": bool(failed.any()),
                            "conservation_failure": bool((classes == "conservation").any()),
                            "structural_failure": bool((classes == "structural").any()),
                            "failure_fraction": float(failed.mean()), "n_replicas": n_replicas})
                        for i in range(n_replicas):
                            replicas.append({
                                "potential": potential, "system": system, "temperature_k": t, "replica": i,
                                "time_ps": float(time_ps[i]), "failed": bool(failed[i]),
                                "reason": {"conservation": "energy_drift", "structural": "bond_length"}.get(
                                    str(classes[i]), ""),
                                "failure_class": str(classes[i])})
    return pd.DataFrame(units), pd.DataFrame(replicas)
