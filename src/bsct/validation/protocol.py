"""The pre-registered validation protocol (``benchmarks/validation/protocol.toml``) as frozen data.

The TOML file is the single source of truth: every number a validation run uses is read from
it here, and a missing or mistyped key is an error that names the key. The ``ci`` tier applies
:data:`CI_OVERRIDES` to the raw table before it is checked: a run small enough for CI and smoke
tests, never evidence (its report says so).
"""

from __future__ import annotations

import copy
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bsct.runs import BadInput

#: The committed protocol, relative to the repository root.
DEFAULT_PROTOCOL = Path("benchmarks/validation/protocol.toml")

TIERS = ("ci", "full")

#: What the ``ci`` tier changes in the protocol (dotted key -> value), and nothing else. One
#: system (Cu, whose reference EMT is fast), one velocity seed per start and a few dozen MD steps,
#: the tiny Transformer for two epochs and NequIP for one on the committed ``ci`` data, no CHGNet
#: from scratch and no pretrained models, BSCT on 30 points. Enough to run every stage end to end in about a minute; the numbers are not evidence.
CI_OVERRIDES: dict[str, object] = {
    "tier.data_size": "ci",
    "systems": ["cu"],
    "md.seeds_per_start": 1,
    "md.equilibration_ps": 0.01,
    "md.nve_ps": 0.03,
    "zoo.transformer.systems": ["cu"],
    "zoo.transformer.model_size": "tiny",
    "zoo.transformer.seeds": [0],
    "zoo.transformer.training_sets": ["ci"],
    "zoo.transformer.epochs": 2,
    "zoo.nequip.families": ["nequip/nequip"],
    "zoo.nequip.systems": ["cu"],
    "zoo.nequip.seeds": [0],
    "zoo.nequip.training_sets": ["ci"],
    "zoo.nequip.epochs": 1,
    "zoo.chgnet.systems": [],
    "zoo.pretrained.systems": [],
    "zoo.constructed_to_fail.weakened": [],
    "zoo.constructed_to_fail.systems": ["cu"],
    "predictors.bsct.points": 30,
    "predictors.short_nve.equilibration_ps": 0.005,
}

#: What a tier that the file does not set reads (the full tier's defaults): the size of the
#: reference datasets that train and test the zoo (``bsct data generate SYSTEM --size ...``).
TIER_DEFAULTS = {"data_size": "full"}


@dataclass(frozen=True)
class SystemProtocol:
    name: str
    reference: str
    starts: tuple[str, ...]
    temperatures_k: tuple[float, ...]
    timestep_fs: float


@dataclass(frozen=True)
class MDProtocol:
    seeds_per_start: int
    seed_base: int
    equilibration_ps: float
    friction_per_fs: float
    nve_ps: float
    dtype: str
    criteria: dict
    failure_classes: dict  # class name -> tuple of MD failure reasons
    required_reference_failures: int

    def failure_class(self, reason: str | None) -> str:
        """The class (``conservation``, ``structural``) of an MD failure reason; "" for none."""
        if not reason:
            return ""
        for name, reasons in self.failure_classes.items():
            if reason in reasons:
                return name
        raise ValueError(f"MD failure reason {reason!r} is in no [md.failure_classes] class")


@dataclass(frozen=True)
class TrainedZoo:
    """One trained architecture of the zoo (``[zoo.transformer]``, ``[zoo.schnetpack]``, ...)."""

    arch: str
    families: tuple[str, ...]
    systems: tuple[str, ...]
    seeds: tuple[int, ...]
    training_sets: tuple[str, ...]
    checkpoints_at_fraction: tuple[float, ...]
    configs: tuple[str, ...] = ()
    model_size: str | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class PretrainedZoo:
    systems: tuple[str, ...]
    groups: dict  # family (chgnet, sevennet) -> tuple of SPECs
    float64_twins: tuple[str, ...]


@dataclass(frozen=True)
class ConstructedZoo:
    weakened: tuple[str, ...]
    planted: tuple[str, ...]
    systems: tuple[str, ...]


@dataclass(frozen=True)
class ShortNVE:
    replicas: int
    seed_offset: int
    equilibration_ps: float
    budget: str


@dataclass(frozen=True)
class Protocol:
    """Everything a validation run reads from the protocol file (see the file for meanings)."""

    path: str
    tier: str
    data_size: str
    systems: dict  # name -> SystemProtocol, in file order
    md: MDProtocol
    trained: tuple[TrainedZoo, ...]
    pretrained: PretrainedZoo
    constructed: ConstructedZoo
    calibration: tuple[str, ...]
    held_out: tuple[str, ...]
    bsct: dict
    predictors: tuple[str, ...]
    short_nve: ShortNVE
    aim_worker_hours: float
    analysis: dict
    amendments: tuple[dict, ...]
    raw: dict
    shrink_allowed: bool = True  # [budget] shrink_rule; "none..." once withdrawn (amendment 1)

    def split_of(self, family: str) -> str:
        """``calibration`` or ``held_out`` of a family (a family in neither is an error)."""
        if family in self.calibration:
            return "calibration"
        if family in self.held_out:
            return "held_out"
        raise ValueError(f"family {family!r} is in neither [split] calibration nor held_out")

    @property
    def transformer(self) -> TrainedZoo:
        return next(z for z in self.trained if z.arch == "transformer")


def _get(table: dict, key: str, kind, where: str):
    if key not in table:
        raise BadInput(f"protocol: missing key [{where}] {key}")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"protocol: [{where}] {key} must be {getattr(kind, '__name__', kind)}, "
                       f"got {type(value).__name__} {value!r}")
    return value


def _list(table: dict, key: str, item, where: str) -> tuple:
    values = _get(table, key, list, where)
    out = []
    for v in values:
        if item is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, item) or (item is int and isinstance(v, bool)):
            raise BadInput(f"protocol: [{where}] {key} must be a list of {item.__name__}, got {v!r}")
        out.append(v)
    return tuple(out)


def _table(raw: dict, key: str, where: str = "") -> dict:
    return _get(raw, key, dict, where or "top level")


def apply_overrides(raw: dict, overrides: dict) -> dict:
    """A copy of ``raw`` with each dotted key of ``overrides`` set (``"md.nve_ps": 0.03``);
    ``systems`` keeps only the named system tables."""
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        if dotted == "systems":
            out["systems"] = {k: v for k, v in out.get("systems", {}).items() if k in value}
            continue
        *parents, leaf = dotted.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = copy.deepcopy(value)
    return out


def _trained(raw_zoo: dict) -> tuple[TrainedZoo, ...]:
    out = []
    for arch, t in raw_zoo.items():
        if arch in ("pretrained", "constructed_to_fail"):
            continue
        where = f"zoo.{arch}"
        common = dict(systems=_list(t, "systems", str, where), seeds=_list(t, "seeds", int, where),
                      training_sets=_list(t, "training_sets", str, where),
                      checkpoints_at_fraction=_list(t, "checkpoints_at_fraction", float, where))
        if not all(0 < f <= 1 for f in common["checkpoints_at_fraction"]):
            raise BadInput(f"protocol: [{where}] checkpoints_at_fraction must lie in (0, 1]")
        if "configs" in t:
            configs = _list(t, "configs", str, where)
            if _get(t, "family_by", str, where) != "config":
                raise BadInput(f"protocol: [{where}] family_by must be \"config\"")
            out.append(TrainedZoo(arch, tuple(f"{arch}/{c}" for c in configs), configs=configs,
                                  model_size=_get(t, "model_size", str, where), epochs=_get(t, "epochs", int, where),
                                  **common))
        else:
            epochs = _get(t, "epochs", int, where) if "epochs" in t else None
            out.append(TrainedZoo(arch, _list(t, "families", str, where), epochs=epochs, **common))
    return tuple(out)


def check_protocol(raw: dict, path: str = "<protocol>", tier: str = "full") -> Protocol:
    """The :class:`Protocol` of a parsed TOML table (after any tier overrides); BadInput names the key."""
    if tier not in TIERS:
        raise BadInput(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    systems = {}
    for name, s in _table(raw, "systems").items():
        where = f"systems.{name}"
        systems[name] = SystemProtocol(name, _get(s, "reference", str, where), _list(s, "starts", str, where),
                                       _list(s, "temperatures_k", float, where), _get(s, "timestep_fs", float, where))
        if len(systems[name].starts) < 1 or len(systems[name].temperatures_k) < 1:
            raise BadInput(f"protocol: [{where}] needs at least one start and one temperature")
    md = _table(raw, "md")
    classes = _get(md, "failure_classes", dict, "md")
    md_p = MDProtocol(
        _get(md, "seeds_per_start", int, "md"), _get(md, "seed_base", int, "md"),
        _get(md, "equilibration_ps", float, "md"), _get(md, "friction_per_fs", float, "md"),
        _get(md, "nve_ps", float, "md"), _get(md, "dtype", str, "md"), dict(_get(md, "criteria", dict, "md")),
        {k: _list(classes, k, str, "md.failure_classes") for k in classes},
        _get(_get(md, "reference_validation", dict, "md"), "required_failures", int, "md.reference_validation"))
    zoo = _table(raw, "zoo")
    pre = _table(zoo, "pretrained", "zoo")
    groups = {k: _list(pre, k, str, "zoo.pretrained") for k in pre if k not in ("systems", "float64_twins")}
    con = _table(zoo, "constructed_to_fail", "zoo")
    split = _table(raw, "split")
    pred = _table(raw, "predictors")
    sn = _get(pred, "short_nve", dict, "predictors")
    budget = _table(raw, "budget")
    tier_table = raw.get("tier", {})
    protocol = Protocol(
        path=str(path), tier=tier, data_size=str(tier_table.get("data_size", TIER_DEFAULTS["data_size"])),
        systems=systems, md=md_p, trained=_trained(zoo),
        pretrained=PretrainedZoo(_list(pre, "systems", str, "zoo.pretrained"), groups,
                                 _list(pre, "float64_twins", str, "zoo.pretrained")),
        constructed=ConstructedZoo(_list(con, "weakened", str, "zoo.constructed_to_fail"),
                                   _list(con, "planted", str, "zoo.constructed_to_fail"),
                                   _list(con, "systems", str, "zoo.constructed_to_fail")),
        calibration=_list(split, "calibration", str, "split"), held_out=_list(split, "held_out", str, "split"),
        bsct=dict(_get(pred, "bsct", dict, "predictors")), predictors=_list(pred, "list", str, "predictors"),
        short_nve=ShortNVE(_get(sn, "replicas", int, "predictors.short_nve"),
                           _get(sn, "seed_offset", int, "predictors.short_nve"),
                           _get(sn, "equilibration_ps", float, "predictors.short_nve"),
                           _get(sn, "budget", str, "predictors.short_nve")),
        aim_worker_hours=_get(budget, "aim_worker_hours", float, "budget"),
        analysis=dict(_table(raw, "analysis")), amendments=tuple(raw.get("amendments", ())), raw=raw,
        shrink_allowed=not str(budget.get("shrink_rule", "")).startswith("none"))
    _check_consistency(protocol)
    return protocol


def _check_consistency(p: Protocol) -> None:
    overlap = set(p.calibration) & set(p.held_out)
    if overlap:
        raise BadInput(f"protocol: [split] families {sorted(overlap)} are in both halves")
    families = [f for z in p.trained for f in z.families] + list(p.pretrained.groups)
    unsplit = [f for f in families if f not in p.calibration and f not in p.held_out]
    if unsplit:
        raise BadInput(f"protocol: [split] does not place families {unsplit}")
    for zoo_systems in [z.systems for z in p.trained] + [p.pretrained.systems, p.constructed.systems]:
        unknown = set(zoo_systems) - set(p.systems)
        if unknown and p.tier == "full":
            raise BadInput(f"protocol: zoo systems {sorted(unknown)} have no [systems.*] table")
    for twin in p.pretrained.float64_twins:
        if not any(twin in specs for specs in p.pretrained.groups.values()):
            raise BadInput(f"protocol: [zoo.pretrained] float64_twins names {twin!r}, which is in no group")
    unknown_bsct = set(p.bsct) - {"points", "max_per_type", "r_min_scale", "r_max_scale", "jump_refine"}
    if unknown_bsct:
        raise BadInput(f"protocol: [predictors] bsct has unknown keys {sorted(unknown_bsct)}")


def load_protocol(path: str | Path = DEFAULT_PROTOCOL, tier: str = "full") -> Protocol:
    """Read, override (``tier="ci"``: :data:`CI_OVERRIDES`) and check the protocol file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BadInput(f"protocol file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"protocol file {path}: not valid TOML ({exc})") from exc
    if tier == "ci":
        raw = apply_overrides(raw, CI_OVERRIDES)
    return check_protocol(raw, str(path), tier)


def _git(args: list[str], cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def protocol_git_hash(path: str | Path) -> str:
    """The commit that last changed the protocol file, or ``"uncommitted"`` when the file on disk
    differs from HEAD's copy (or is not tracked, or there is no git)."""
    path = Path(path).resolve()
    cwd = path.parent
    try:
        rel = _git(["ls-files", "--full-name", "--error-unmatch", path.name], cwd)
        head_blob = _git(["rev-parse", f"HEAD:{rel}"], cwd)
        disk_blob = _git(["hash-object", path.name], cwd)
        commit = _git(["log", "-1", "--format=%H", "--", path.name], cwd)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "uncommitted"
    return commit if commit and head_blob == disk_blob else "uncommitted"
