"""The zoo of the validation study, expanded from the protocol's ``[zoo]`` and ``[split]`` tables.

A *training* makes one set of weights per checkpoint fraction; a *potential* is one set of
weights (+ dtype) on one system, with its family and its half of the split. Families that
cannot be built here (package or trainer not importable) are dropped and reported, never moved
to the other half.

Trainers are pluggable: :data:`TRAINERS` maps an architecture to ``"module:function"`` of a
function ``train(data_path, out_dir, *, model, n_train, seed, epochs, checkpoints_at) -> list[Path]``
(one checkpoint per fraction) and the SPEC family that loads what it wrote. The Transformer's own
trainer is :func:`bsct.validation.trainers.train_transformer`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from bsct.runs import safe_name
from bsct.validation.protocol import Protocol

#: arch -> (trainer "module:function", SPEC prefix of its checkpoints ("" = the path is the SPEC),
#: packages each family needs, by the family's model name).
TRAINERS: dict[str, tuple[str, str, dict[str, tuple[str, ...]]]] = {
    "transformer": ("bsct.validation.trainers:train_transformer", "", {}),
    "schnetpack": ("bsct.train.external:train_schnetpack", "schnetpack:", {"schnet": ("schnetpack",),
                                                                          "painn": ("schnetpack",)}),
    "nequip": ("bsct.train.external:train_nequip", "nequip:", {"nequip": ("nequip",),
                                                              "allegro": ("nequip", "allegro")}),
    # CHGNet trained from scratch by chgnet's own Trainer (amendment 1: schnetpack cannot be installed here)
    "chgnet": ("bsct.train.external_chgnet:train_chgnet", "chgnet:", {"scratch": ("chgnet",)}),
}

#: The package each pretrained family's SPECs need.
PRETRAINED_PACKAGES = {"chgnet": "chgnet", "sevennet": "sevenn"}

#: The constructed-to-fail families (never in the calibration/held-out analysis).
WEAKENED_FAMILY = "constructed/weakened"
PLANTED_FAMILY = "constructed/planted"
CONSTRUCTED = "constructed"


def _slug(text: str) -> str:
    return safe_name(text.replace("+", "plus-"))


@dataclass(frozen=True)
class Training:
    """One training run: ``checkpoints_at`` fractions of it become potentials."""

    arch: str
    family: str
    system: str
    training_set: str
    seed: int
    checkpoints_at: tuple[float, ...]
    config_name: str | None = None
    model_overrides: tuple[tuple[str, object], ...] = ()
    model_size: str | None = None
    epochs: int | None = None
    max_steps: int | None = None
    label: str = ""

    @property
    def slug(self) -> str:
        return _slug(self.label or f"{self.family}-{self.training_set}-seed{self.seed}")


@dataclass(frozen=True)
class ZooPotential:
    """One potential on one system. ``spec`` for a ready model, else ``training`` + ``fraction``."""

    name: str
    family: str
    split: str  # calibration | held_out | constructed
    system: str
    spec: str | None = None
    training: Training | None = None
    fraction: float | None = None

    @property
    def slug(self) -> str:
        return _slug(self.name)

    @property
    def trained(self) -> bool:
        return self.training is not None


@dataclass(frozen=True)
class Zoo:
    potentials: tuple[ZooPotential, ...]
    dropped: dict  # family -> why it was dropped

    def trainings(self) -> list[Training]:
        """Each training once, in zoo order."""
        return list(dict.fromkeys(p.training for p in self.potentials if p.training is not None))

    def count(self, family_prefix: str) -> int:
        return sum(p.family == family_prefix or p.family.startswith(family_prefix + "/") for p in self.potentials)


def _missing_packages(packages) -> list[str]:
    return [p for p in packages if importlib.util.find_spec(p) is None]


def trainer_of(arch: str):
    """The trainer callable of ``arch`` (ImportError/AttributeError when it is not here)."""
    module_name, _, attr = TRAINERS[arch][0].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def family_unavailable(arch: str, family: str) -> str | None:
    """Why a trained family cannot be built here, or None."""
    if arch not in TRAINERS:
        return f"no trainer is registered for {arch!r}"
    missing = _missing_packages(TRAINERS[arch][2].get(family.split("/", 1)[-1], ()))
    if missing:
        return f"not installable here (missing package {', '.join(missing)})"
    try:
        trainer_of(arch)
    except (ImportError, AttributeError) as exc:
        return f"not installable here (trainer {TRAINERS[arch][0]} unavailable: {exc})"
    return None


def _float64_spec(spec: str) -> str | None:
    """``spec`` evaluated in float64, or None when its family has no dtype option here."""
    import inspect

    from bsct.registry import FAMILIES

    family = spec.split(":", 1)[0]
    factory = FAMILIES.get(family)
    if factory is None or "dtype" not in inspect.signature(factory).parameters:
        return None
    return f"{spec}[dtype=float64]"


def _transformer_trainings(p: Protocol, arch_zoo) -> list[Training]:
    return [Training("transformer", f"transformer/{config}", system, tset, seed, arch_zoo.checkpoints_at_fraction,
                     config_name=config, model_size=arch_zoo.model_size, epochs=arch_zoo.epochs)
            for system in arch_zoo.systems for config in arch_zoo.configs
            for tset in arch_zoo.training_sets for seed in arch_zoo.seeds]


def _trained_potentials(p: Protocol, dropped: dict) -> list[ZooPotential]:
    out = []
    for arch_zoo in p.trained:
        if arch_zoo.arch == "transformer":
            trainings = _transformer_trainings(p, arch_zoo)
        else:
            trainings = []
            for family in arch_zoo.families:
                why = family_unavailable(arch_zoo.arch, family)
                if why:
                    dropped[family] = why
                    continue
                trainings += [Training(arch_zoo.arch, family, system, tset, seed, arch_zoo.checkpoints_at_fraction,
                                       epochs=arch_zoo.epochs)
                              for system in arch_zoo.systems for tset in arch_zoo.training_sets
                              for seed in arch_zoo.seeds]
        for t in trainings:
            for frac in t.checkpoints_at:
                name = f"{t.family}/{t.training_set}/seed{t.seed}/at{frac:g}"
                out.append(ZooPotential(name, t.family, p.split_of(t.family), t.system, training=t, fraction=frac))
    return out


def _pretrained_potentials(p: Protocol, dropped: dict) -> list[ZooPotential]:
    out = []
    for family, specs in p.pretrained.groups.items():
        package = PRETRAINED_PACKAGES.get(family, family)
        if _missing_packages([package]):
            dropped[family] = f"not installable here (missing package {package})"
            continue
        named = [(s, s) for s in specs]
        for twin in p.pretrained.float64_twins:
            if twin in specs:
                twin_spec = _float64_spec(twin)
                if twin_spec is None:
                    dropped[f"{twin} (float64 twin)"] = "its SPEC family has no dtype option here"
                else:
                    named.append((f"{twin} float64", twin_spec))
        out += [ZooPotential(name, family, p.split_of(family), system, spec=spec)
                for system in p.pretrained.systems for name, spec in named]
    return out


def _constructed_potentials(p: Protocol) -> list[ZooPotential]:
    from bsct.study.config import PLANTED, SIZES, WEAKENED

    t = p.transformer
    by_name = {w["name"]: w for w in WEAKENED}
    unknown = set(p.constructed.weakened) - set(by_name)
    if unknown:
        raise ValueError(f"protocol: [zoo.constructed_to_fail] weakened {sorted(unknown)} are not in study.config.WEAKENED")
    undertrained_steps = SIZES[size_key(t.model_size)].undertrained_steps
    out = []
    for system in p.constructed.systems:
        for name in p.constructed.weakened:
            w = by_name[name]
            training = Training("transformer", WEAKENED_FAMILY, system, "full" if p.data_size == "full" else "ci", 0,
                                (1.0,), config_name=w["config_name"], model_overrides=w.get("model_overrides", ()),
                                model_size=t.model_size, epochs=t.epochs,
                                max_steps=undertrained_steps if w.get("max_steps") else None,
                                label=f"weakened-{name}")
            out.append(ZooPotential(f"weakened:{name}", WEAKENED_FAMILY, CONSTRUCTED, system, training=training,
                                    fraction=1.0))
        planted = {e["name"]: e for e in PLANTED.get(system, ())}
        out += [ZooPotential(f"planted:{name}", PLANTED_FAMILY, CONSTRUCTED, system, spec=planted[name]["spec"])
                for name in p.constructed.planted if name in planted]
    return out


def size_key(model_size: str | None) -> str:
    """The study size whose model and optimiser settings a protocol ``model_size`` names."""
    return {"small": "small", "tiny": "ci", "full": "full"}[model_size or "small"]


def expand_zoo(p: Protocol) -> Zoo:
    """Every potential of the protocol's zoo that can be built here, and the dropped families."""
    dropped: dict[str, str] = {}
    potentials = _trained_potentials(p, dropped) + _pretrained_potentials(p, dropped) + _constructed_potentials(p)
    names = [(z.system, z.name) for z in potentials]
    if len(set(names)) != len(names):
        raise ValueError("zoo: two potentials share a name on one system")
    return Zoo(tuple(potentials), dropped)
