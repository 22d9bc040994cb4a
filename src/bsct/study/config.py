"""What a study runs: its sizes, the potentials of its zoo, and the settings of one invocation.

Everything here is data (dataclasses and tables); the steps read their numbers from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bsct.data.reference import REFERENCE_SPECS, REFERENCES
from bsct.runs import safe_name

STEPS = ("train", "errors", "bsct", "fsd", "md", "elastic")
VARIANTS = ("baseline", "+diffknn", "+temperature", "final")

# Kinds of potential in the zoo; "planted" ones have artifacts put in on purpose and are
# labelled as such in every table and plot.
KINDS = ("variant", "weakened", "reference", "third_party", "planted")


@dataclass(frozen=True)
class StudySize:
    """How big each step is. ``ci`` runs in the tests; ``small`` is the documented study.

    Attributes:
        name: size label.
        model_overrides: replace fields of every named model config (``named_config(name, **...)``).
        epochs: training epochs of the variants; ``batch_size`` structures per step.
        undertrained_steps: optimiser steps of the deliberately under-trained checkpoint.
        bsct_points: points per bond scan; ``bsct_max_per_type`` bonds per bond type.
        bsct_r_max_scale: every scan runs from 0.6 r0 to this x r0 for every potential of a
            system (the same grid for all, so scores compare); the cutoff term of ScanRange is off.
        md_replicas, md_time_ps, md_equilibration_ps, md_temperature_k: the MD stability test.
        third_party_bsct_points, third_party_bsct_max_per_type, third_party_md_replicas,
            third_party_md_time_ps: smaller settings for CHGNet and SevenNet-0 (about 1 s per
            evaluation of a 100-atom cell here).
        elastic: compute C11/C12/C44 for ``final`` and the reference potential.
        slow_reference_systems: systems whose reference method is too slow here for the MD test
            (GFN2-xTB on a periodic 96-atom water box: its 120-point scan took 1,370 s on one core): it runs
            the third-party BSCT settings and no MD, so it has no MD entry and no correlation point.
        data_size: which reference datasets train and test the models: ``ci`` (committed in the
            package) or ``full`` (``bsct data generate SYSTEM --size full``; made on first use).
        fsd_points, fsd_per_type: the FSD set of each system (``bsct make-scans`` from its test
            split, labelled by the system's reference method): points per scan, scans per bond type.
    """

    name: str
    model_overrides: dict = field(default_factory=dict)
    # training (the field order is that of study.json's "size": keep it)
    epochs: int = 2
    batch_size: int = 4
    lr: float = 2e-3
    undertrained_steps: int = 2
    # BSCT
    bsct_points: int = 120
    bsct_max_per_type: int = 1
    bsct_r_max_scale: float = 2.0
    # MD
    md_replicas: int = 2
    md_time_ps: float = 0.2
    md_equilibration_ps: float = 0.05
    md_temperature_k: float = 300.0
    # third-party models
    third_party_bsct_points: int = 60
    third_party_bsct_max_per_type: int = 1
    third_party_md_replicas: int = 1
    third_party_md_time_ps: float = 0.1
    elastic: bool = False
    slow_reference_systems: tuple[str, ...] = ()
    fsd_points: int = 40
    fsd_per_type: int = 1
    data_size: str = "ci"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Model presets of the sizes (overrides of every named model config); ``full`` keeps the defaults.
TINY_MODEL = {"hidden_dim": 16, "n_layers": 1, "n_heads": 2, "n_vector_channels": 2, "n_rbf": 8, "r_cut_angstrom": 4.0,
              "k_neighbors": 12}
SMALL_MODEL = {"hidden_dim": 32, "n_layers": 1, "n_heads": 4, "n_vector_channels": 4, "n_rbf": 16,
               "r_cut_angstrom": 4.0, "k_neighbors": 12}

SIZES: dict[str, StudySize] = {
    "ci": StudySize("ci", TINY_MODEL, epochs=2, lr=5e-3, undertrained_steps=2, md_replicas=2, md_time_ps=0.2,
                    md_equilibration_ps=0.05, elastic=False),
    "small": StudySize("small", SMALL_MODEL, epochs=30, lr=5e-3, undertrained_steps=5, md_replicas=4, md_time_ps=0.5,
                       md_equilibration_ps=0.1, elastic=True, fsd_points=60),
    # The paper-like model (named configs at their defaults). 30 epochs and 4 x 2 ps of MD, not the
    # 100 epochs and 8 x 10 ps first tried: measured here those cost ~80 worker-hours (Cu/Si
    # trainings 1.5-1.8 h each; +diffknn MD of 8 dense water or Cu boxes 0.5-1.2 s per step, i.e.
    # 3-4 h per potential), ~40 h on the two cores. docs/results.md has the numbers.
    "full": StudySize("full", {}, epochs=30, undertrained_steps=20, bsct_points=240, bsct_max_per_type=3,
                      md_replicas=4, md_time_ps=2.0, md_equilibration_ps=0.5, third_party_bsct_points=120,
                      third_party_bsct_max_per_type=1, third_party_md_replicas=1, third_party_md_time_ps=0.5,
                      elastic=True, fsd_points=100, fsd_per_type=3, data_size="full",
                      slow_reference_systems=("water",)),
}

#: Third-party models equilibrate at most this long (ps) before their (shorter) MD production.
THIRD_PARTY_MAX_EQUILIBRATION_PS = 0.02

#: The cubic crystal (symbol, lattice, guessed lattice constant in Å) whose elastic constants
#: the study measures, per system; systems not listed have none.
ELASTIC_CRYSTALS = {"cu": ("Cu", "fcc", 3.6), "si": ("Si", "diamond", 5.43)}


# The Cu planted controls' Morse: r0 puts fcc Cu at the data's lattice constant (EMT's 3.59 Å) at
# zero pressure, C11/C12/C44 ~ 130/66/66 GPa, so the smooth control holds its crystal in MD and
# only the planted step can make its twin fail. With Morse's default r0 = 2.5 Å that cell sits at
# -30 GPa with C11 < 0: from the strained and vacancy starts, all 4 replicas of the full-size
# control changed coordination within 0.3-0.7 ps (docs/results.md, "The potentials", has the commands).
CU_MORSE = "cutoff_angstrom=5.0,r0_angstrom=2.775"


@dataclass(frozen=True)
class PotentialJob:
    """One potential on one system.

    Attributes:
        system: dataset name (``cu``, ``si``, ``water``, ``molecules``).
        name: label in tables (``baseline``, ``final``, ``hard-cutoff``, ``EMT``...).
        kind: one of :data:`KINDS`.
        spec: a SPEC string for :func:`bsct.registry.load_potential` (untrained ones).
        config_name: named model config to train (trained ones).
        model_overrides: extra overrides of that config (on top of the size's).
        max_steps: stop training after this many steps (under-trained checkpoints).
        note: what this potential is meant to show.
        scan_only: BSCT at the third-party settings, and no MD (a reference too slow to run MD).
    """

    system: str
    name: str
    kind: str
    spec: str | None = None
    config_name: str | None = None
    model_overrides: tuple[tuple[str, object], ...] = ()
    max_steps: int | None = None
    note: str = ""
    scan_only: bool = False

    @property
    def trained(self) -> bool:
        return self.config_name is not None

    @property
    def slug(self) -> str:
        return safe_name(self.name.replace("+", "plus-"))


# ---------------------------------------------------------------------------- the zoo, as data
# Each entry: the fields of a PotentialJob but its system. ``max_steps="undertrained_steps"``
# takes the size's value, and ``{undertrained_steps}`` in a note is filled in from it.

WEAKENED = (
    {"name": "hard-cutoff", "config_name": "final", "model_overrides": (("graph", "knn"), ("k_neighbors", 10_000)),
     "note": "final, but every candidate inside r_cut kept with weight 1: no envelope at the cutoff"},
    {"name": "direct-force", "config_name": "final", "model_overrides": (("force_head", "direct"),),
     "note": "final with a direct-force head: forces read out per atom, not -dE/dx (non-conservative)"},
    {"name": "under-trained", "config_name": "final", "max_steps": "undertrained_steps",
     "note": "final stopped after {undertrained_steps} optimiser steps"},
    {"name": "T=0.05", "config_name": "final", "model_overrides": (("attention_temperature", 0.05),),
     "note": "final with a very cold attention (logits x 20: near-argmax)"},
    {"name": "T=20", "config_name": "final", "model_overrides": (("attention_temperature", 20.0),),
     "note": "final with a very hot attention (near-uniform weights)"},
)

REFERENCE_NOTE = "the reference method that labelled the data"
SLOW_REFERENCE_NOTE = " (too slow here for MD at this size: BSCT only)"

#: Pretrained universal models (``third_party=True``) and the systems they run on.
THIRD_PARTY_SYSTEMS = ("cu", "si")
THIRD_PARTY = (
    {"name": "chgnet", "spec": "chgnet", "note": "CHGNet 0.3 (pretrained, MPtrj)"},
    {"name": "sevennet-0", "spec": "sevennet-0", "note": "SevenNet-0 (pretrained, MPtrj)"},
)

#: Known-answer controls (``planted=True``), per system: a smooth pair potential and its twin
#: with a planted artifact.
PLANTED = {
    "cu": (
        {"name": "morse (control)", "spec": f"morse[{CU_MORSE}]",
         "note": "smoothly switched Morse pair potential (smooth twin of the planted one)"},
        {"name": "planted energy step",
         "spec": f"planted[kind=energy_step,size=0.01,r_star_angstrom=3.5,{CU_MORSE}]",
         "note": "Morse + a planted 0.01 eV energy step at 3.5 Å"},
    ),
}


def _job(system: str, kind: str, entry: dict, size: StudySize) -> PotentialJob:
    fields = dict(entry)
    if fields.get("max_steps") == "undertrained_steps":
        fields["max_steps"] = size.undertrained_steps
    fields["note"] = fields.get("note", "").format(undertrained_steps=size.undertrained_steps)
    return PotentialJob(system, kind=kind, **fields)


def potential_zoo(
    system: str,
    size: StudySize,
    third_party: bool = False,
    planted: bool = True,
) -> list[PotentialJob]:
    """The potentials of the study for ``system``: the four design variants, weakened
    variants, the reference potential, optionally CHGNet/SevenNet-0 and planted-artifact controls."""
    jobs = [PotentialJob(system, v, "variant", config_name=v, note="design step") for v in VARIANTS]
    jobs += [_job(system, "weakened", entry, size) for entry in WEAKENED]
    slow = system in size.slow_reference_systems
    jobs.append(PotentialJob(system, REFERENCES[system], "reference", spec=REFERENCE_SPECS[system], scan_only=slow,
                             note=REFERENCE_NOTE + (SLOW_REFERENCE_NOTE if slow else "")))
    if third_party and system in THIRD_PARTY_SYSTEMS:
        jobs += [_job(system, "third_party", entry, size) for entry in THIRD_PARTY]
    if planted:
        jobs += [_job(system, "planted", entry, size) for entry in PLANTED.get(system, ())]
    return jobs


@dataclass(frozen=True)
class StudyConfig:
    """Settings of a study (``bsct study``).

    Attributes:
        systems: datasets to run.
        size: a key of :data:`SIZES`.
        out_dir: where every job writes its cached results.
        seed: seeds training, bond choice, MD replicas and the bootstrap.
        potentials: only these potential names (None = the whole zoo).
        third_party: include CHGNet and SevenNet-0 (Cu and Si).
        planted: include the planted-artifact controls (Cu).
        threads: torch intra-op threads per job.
        n_bootstrap: bootstrap resamples of the correlation intervals.
        progress: show progress bars.
        fsd: also score every potential with the paper's FSD on the system's FSD set.
        cached_only: compute nothing; report the potentials whose every step is cached and list
            the others as pending (the tables of a long study that is still running).
    """

    systems: tuple[str, ...] = ("cu", "si")
    size: str = "ci"
    out_dir: str = "runs/study"
    seed: int = 0
    potentials: tuple[str, ...] | None = None
    third_party: bool = False
    planted: bool = True
    threads: int = 1
    n_bootstrap: int = 2000
    progress: bool = True
    fsd: bool = True
    cached_only: bool = False

    @property
    def study_size(self) -> StudySize:
        if self.size not in SIZES:
            raise ValueError(f"unknown study size {self.size!r}; choose one of {', '.join(SIZES)}")
        return SIZES[self.size]

    def jobs(self) -> list[PotentialJob]:
        jobs = []
        for system in self.systems:
            zoo = potential_zoo(system, self.study_size, self.third_party, self.planted)
            if self.potentials is not None:
                unknown = set(self.potentials) - {j.name for s in self.systems
                                                  for j in potential_zoo(s, self.study_size, True, True)}
                if unknown:
                    raise ValueError(f"unknown potentials {sorted(unknown)}")
                zoo = [j for j in zoo if j.name in self.potentials]
            jobs += zoo
        return jobs
