"""Turn a model SPEC string into a batched potential.

SPEC forms:
    NAME                      a built-in, e.g. ``morse``, ``emt``, ``sw-si``, ``gfn2-xtb``
    NAME[key=value,...]       a built-in with keyword arguments, e.g. ``planted[kind=energy_step,size=0.01]``
    FAMILY:VERSION[...]       a versioned model family: ``chgnet:0.3.0``, ``chgnet:0.2.0``,
                              ``chgnet:r2scan``, ``sevennet:7net-0``, ``sevennet:7net-0_22May2024``,
                              ``sevennet:7net-l3i5``, ``sevennet:7net-mf-0[modal=PBE]``,
                              ``xtb:GFN2-xTB``, ``xtb:GFN1-xTB``; ``[dtype=float64]`` and
                              ``[ase=True]`` for CHGNet and SevenNet
    FAMILY:PATH[...]          a model file another package wrote: ``nequip:run/epoch0010.ckpt``
                              (NequIP or Allegro checkpoint or ``.nequip.zip`` package),
                              ``chgnet:run/epoch0010.pth.tar`` (a CHGNet trained by chgnet)
    package.module:factory    a Python callable returning an ASE calculator or a batched potential
    path/to/checkpoint.pt     a checkpoint of the project's Transformer MLIP (float64);
                              ``path/to/checkpoint.pt[dtype=float32]`` runs it in float32
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import re
from pathlib import Path
from typing import Callable

import torch

from bsct.potentials.ase_adapters import as_batched
from bsct.potentials.protocol import BatchedPotential, torch_dtype
from bsct.runs import BadInput, file_sha256

log = logging.getLogger(__name__)


def _morse(**kw):
    from bsct.potentials.pair import Morse

    return Morse(**kw)


def _lj(**kw):
    from bsct.potentials.pair import LennardJones

    return LennardJones(**kw)


def _planted(**kw):
    from bsct.potentials.pair import Morse, PlantedArtifact

    allowed = sorted(set(inspect.signature(PlantedArtifact).parameters) - {"morse_kwargs"}
                     | set(inspect.signature(Morse).parameters))
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise BadInput(f"planted: unknown keyword(s) {', '.join(unknown)}; the keywords are {', '.join(allowed)}")
    if kw.get("kind", "energy_step") not in PlantedArtifact.KINDS:
        raise BadInput(f"planted: unknown kind {kw['kind']!r}; the kinds are {', '.join(PlantedArtifact.KINDS)}")
    kw.setdefault("kind", "energy_step")
    kw.setdefault("size", {"energy_step": 0.01, "force_step": 0.1, "curvature_step": 2.0,
                           "spurious_well": 0.02, "noise": 0.002, "nonconservative": 0.2}[kw["kind"]])
    kw.setdefault("r_star_angstrom", 3.5)
    return PlantedArtifact(**kw)


def _emt(cutoff_angstrom: float | None = None, reuse: bool = False):
    """ASE's EMT; ``reuse=True`` keeps one calculator and its neighbour list across calls (faster,
    equal to a fresh one only to ~1e-13 eV: see :class:`~bsct.potentials.ase_adapters.CalculatorPotential`)."""
    from ase.calculators.emt import EMT, beta, parameters
    from ase.units import Bohr

    from bsct.potentials.ase_adapters import CalculatorPotential

    potential = CalculatorPotential(EMT, cutoff_angstrom=cutoff_angstrom, name="EMT", reuse=bool(reuse),
                                    supported_elements=set(parameters))
    # EMT's neighbour list ends at rc + 0.5 Å, rc = the mean of the 3rd and 4th fcc neighbour distances of
    # the largest s0 in its table (5.88 Å); the embedding couples atoms up to twice that. Not declared as
    # ``cutoff_angstrom``, which would move v1 scan grids; used to size crystal scan cells (bsct.scan.cells).
    neighbour_cutoff = beta * max(p[1] for p in parameters.values()) * Bohr * 0.5 * (3 ** 0.5 + 2.0) + 0.5
    potential.interaction_range_angstrom = 2.0 * neighbour_cutoff
    return potential


def _sw_si(cutoff_angstrom: float = 3.77118):
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import StillingerWeber
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import Stillinger_Weber_PRB_31_5262_Si

    from bsct.potentials.ase_adapters import CalculatorPotential

    def factory():
        return Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))

    # matscipy rebuilds its neighbour pairs on every call, so a kept calculator is bit-exact
    return CalculatorPotential(factory, cutoff_angstrom=cutoff_angstrom, name="SW-Si", reuse=True,
                               supported_elements={"Si"})


def _xtb(method: str = "GFN2-xTB", charge: int | None = None, accuracy: float = 1.0, max_iterations: int = 250,
         electronic_temperature_k: float = 300.0):
    """tblite's ASE calculator with its defaults; raise ``max_iterations`` (SCF cycles) or
    ``electronic_temperature_k`` (Fermi smearing) for geometries whose SCF does not converge
    (strongly compressed or stretched bonds)."""
    from bsct.potentials.ase_adapters import CalculatorPotential

    def factory():
        from tblite.ase import TBLite

        kwargs = dict(method=method, accuracy=accuracy, verbosity=0, max_iterations=int(max_iterations),
                      electronic_temperature=float(electronic_temperature_k))
        if charge is not None:
            kwargs["charge"] = charge
        return TBLite(**kwargs)

    # GFN1/GFN2-xTB are parametrised for H to Rn (Z 1-86)
    return CalculatorPotential(factory, cutoff_angstrom=None, name=method, supported_elements=range(1, 87))


def _missing(package: str, extra: str = "models"):
    return ValueError(f"this model needs the `{package}` package: pip install 'bsct[{extra}]' (or pip install {package})")


def _chgnet(model: str = "0.3.0", cutoff_angstrom: float | None = None, dtype: str = "float32", ase: bool = False,
            max_edges_per_call: int = 3000):
    """CHGNet (pretrained weights ship in the wheel: 0.3.0, 0.2.0, r2scan). Cutoff: its atom graph's
    (6 Å; 5 Å for 0.2.0). Evaluated natively in batches (:mod:`bsct.potentials.chgnet_native`);
    ``dtype=float64`` runs the same weights in double precision; ``ase=True`` is the old path, its
    ASE calculator one structure per call (float32 only; equal to the native float32 values).

    ``model`` may instead be a CHGNet file chgnet wrote (``*.pth.tar``, e.g. one trained from scratch
    by :func:`bsct.train.external_chgnet.train_chgnet`): the same native path, cutoff read from the model."""
    try:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as exc:
        raise _missing("chgnet") from exc
    from bsct.potentials.chgnet_native import CHGNetPotential

    native = CHGNetPotential(model, dtype=dtype, cutoff_angstrom=cutoff_angstrom,
                             max_edges_per_call=max_edges_per_call)
    if not ase:
        return native
    if native.dtype != torch.float32:
        raise ValueError("chgnet: its ASE calculator runs in float32 only (drop ase=True for dtype=float64)")
    from bsct.potentials.ase_adapters import CalculatorPotential

    net = CHGNet.from_file(str(model)) if Path(model).is_file() else CHGNet.load(model_name=str(model), use_device="cpu",
                                                                                 verbose=False)
    calc = CHGNetCalculator(net, use_device="cpu", check_cuda_mem=False, on_isolated_atoms="ignore")
    return CalculatorPotential(calc, cutoff_angstrom=native.cutoff_angstrom, name=f"CHGNet {model} (ASE)",
                               periodic_only=True, supported_elements=native.supported_elements)


def _sevennet(model: str = "7net-0", cutoff_angstrom: float | None = None, modal: str | None = None,
              dtype: str = "float32", ase: bool = False, max_edges_per_call: int = 1000):
    """SevenNet (pretrained weights ship in the wheel: 7net-0 = 7net-0_11July2024, 7net-0_22May2024,
    7net-l3i5, 7net-mf-0 with ``modal=PBE`` or ``R2SCAN``), 5 Å cutoff. Evaluated natively in
    batches (:mod:`bsct.potentials.sevennet_native`); ``ase=True`` is its ASE calculator, one
    structure per call (float32 only)."""
    try:
        from sevenn.calculator import SevenNetCalculator
    except ImportError as exc:
        raise _missing("sevenn") from exc
    from bsct.potentials.sevennet_native import SevenNetPotential

    native = SevenNetPotential(model, modal=modal, dtype=dtype, cutoff_angstrom=cutoff_angstrom,
                               max_edges_per_call=max_edges_per_call)
    if not ase:
        return native
    if native.dtype != torch.float32:
        raise ValueError("sevennet: its ASE calculator runs in float32 only (drop ase=True for dtype=float64)")
    from bsct.potentials.ase_adapters import CalculatorPotential

    calc = SevenNetCalculator(model, device="cpu", modal=native.modal)
    return CalculatorPotential(calc, cutoff_angstrom=native.cutoff_angstrom, name=f"{native.name} (ASE)",
                               supported_elements=native.supported_elements)


def _nequip(path: str, dtype: str | None = None):
    """A NequIP or Allegro model file (``nequip`` 0.19 checkpoint or package); cutoff and elements
    from its metadata; ``dtype=float64|float32`` evaluates the same weights at that precision
    (default: as trained)."""
    try:
        import nequip  # noqa: F401
    except ImportError as exc:
        raise _missing("nequip", "zoo") from exc
    from bsct.potentials.nequip_model import NequIPPotential

    return NequIPPotential(path, dtype=dtype)


BUILTINS: dict[str, Callable[..., BatchedPotential]] = {
    "chgnet": _chgnet,
    "sevennet-0": _sevennet,
    "morse": _morse,
    "lj": _lj,
    "planted": _planted,
    "emt": _emt,
    "sw-si": _sw_si,
    "gfn2-xtb": _xtb,
}


# FAMILY:VERSION specs; the version is passed to the factory as its first argument.
FAMILIES: dict[str, Callable[..., BatchedPotential]] = {
    "chgnet": _chgnet,
    "sevennet": _sevennet,
    "xtb": _xtb,
    "nequip": _nequip,
}


def register(name: str, factory: Callable[..., BatchedPotential]) -> None:
    """Add a built-in (used by optional model packages such as the Transformer MLIP)."""
    BUILTINS[name] = factory


_NAME_ARGS = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(\[(?P<args>.*)\])?$")
# the version of a file family (``nequip:PATH``) is a path: anything but brackets
_FAMILY_VERSION = re.compile(r"^(?P<family>[A-Za-z0-9_\-]+):(?P<version>[^\[\]]+)(\[(?P<args>.*)\])?$")


def _parse_kwargs(text: str) -> dict:
    kwargs = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise ValueError(f"model argument {item!r} must look like key=value")
        key, value = item.split("=", 1)
        try:
            kwargs[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kwargs[key.strip()] = value.strip()
    return kwargs


def _named_factory(spec: str):
    """(factory, positional args, keyword args) of a built-in ``NAME[args]`` or ``FAMILY:VERSION[args]``
    SPEC, else None."""
    match = _NAME_ARGS.match(spec)
    if match and match["name"] in BUILTINS:
        return BUILTINS[match["name"]], (), _parse_kwargs(match["args"] or "")
    match = _FAMILY_VERSION.match(spec)
    if match and match["family"] in FAMILIES:
        return FAMILIES[match["family"]], (match["version"],), _parse_kwargs(match["args"] or "")
    return None


_CHECKPOINT_ARGS = re.compile(r"^(?P<path>.+\.(?:pt|pth|ckpt))\[(?P<args>[^\[\]]*)\]$")


def _checkpoint_options(spec: str) -> tuple[str, dict]:
    """(path, keyword arguments) of ``PATH[dtype=float32]``; a SPEC without brackets is all path."""
    match = _CHECKPOINT_ARGS.match(spec)
    if match is None:
        return spec, {}
    kwargs = _parse_kwargs(match["args"])
    unknown = sorted(set(kwargs) - {"dtype"})
    if unknown:
        raise BadInput(f"model {spec!r}: a checkpoint takes only dtype=float32|float64, not {', '.join(unknown)}")
    try:
        return match["path"], {"dtype": torch_dtype(kwargs.get("dtype", "float64"))}
    except ValueError as exc:
        raise BadInput(f"model {spec!r}: {exc}") from exc


def spec_with_charge(spec: str, charge: int) -> str | None:
    """SPEC with ``charge=`` added when its factory takes a ``charge`` argument (GFN2-xTB), else None.

    A charge the user wrote into the SPEC wins.
    """
    named = _named_factory(spec)
    if named is None or "charge" not in inspect.signature(named[0]).parameters:
        return None
    if "charge" in named[2]:
        return spec
    base, _, args = spec.partition("[")
    args = args.rstrip("]")
    return f"{base}[{args + ',' if args else ''}charge={int(charge)}]"


def _check_keywords(spec: str, factory: Callable, kwargs: dict) -> None:
    """Keyword arguments a built-in does not take: a clear error naming those it does."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the factory checks them itself (planted)
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise BadInput(f"model {spec!r}: unknown keyword(s) {', '.join(unknown)}; it takes "
                       f"{', '.join(params) or 'none'}")


def _built(spec: str, make: Callable[[], object]) -> BatchedPotential:
    """Call a factory; whatever it raises or returns that is not a model is a model that cannot
    run (:class:`BadInput`, exit 2), named with the SPEC."""
    try:
        made = make()
    except BadInput:
        raise
    except (ValueError, TypeError, ImportError, RuntimeError, OSError, KeyError, AttributeError,
            NotImplementedError, AssertionError) as exc:
        raise BadInput(f"model {spec!r} cannot be built: {type(exc).__name__}: {exc}") from exc
    if made is None:
        raise BadInput(f"model {spec!r}: its factory returned None, not an ASE calculator or a batched potential")
    try:
        return as_batched(made)
    except TypeError as exc:
        raise BadInput(f"model {spec!r}: {exc}") from exc


def load_potential(spec) -> BatchedPotential:
    """Resolve SPEC (see module docstring) or pass an object through ``as_batched``.

    A SPEC that names no model, or a model that cannot be built, raises :class:`BadInput`
    (a ``ValueError``)."""
    if not isinstance(spec, str):
        return as_batched(spec)  # a wrong object from Python code is a TypeError
    named = _named_factory(spec)
    if named is not None:
        factory, args, kwargs = named
        _check_keywords(spec, factory, kwargs)
        return _built(spec, lambda: factory(*args, **kwargs))
    path, options = _checkpoint_options(spec)
    if path.endswith((".pt", ".pth", ".ckpt")) or Path(path).is_file():
        try:
            from bsct.model.checkpoint import load_checkpoint_potential
        except ImportError as exc:
            raise ValueError(f"{spec}: checkpoints need the bsct.model package ({exc})") from exc
        try:
            return load_checkpoint_potential(path, **options)
        except (ValueError, RuntimeError, TypeError, KeyError, EOFError) as exc:
            raise BadInput(str(exc) if isinstance(exc, ValueError) else
                           f"{spec}: cannot load this checkpoint ({type(exc).__name__}: {exc})") from exc
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise BadInput(f"model {spec!r}: cannot import {module_name!r} ({exc}); is the package installed?") from exc
        except Exception as exc:  # noqa: BLE001 - a module that fails on import is a model that cannot run
            raise BadInput(f"model {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
        factory = getattr(module, attr, None)
        if factory is None:
            raise BadInput(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}")
        if not callable(factory):
            raise BadInput(f"model {spec!r}: {attr!r} is not callable")
        return _built(spec, factory)
    raise BadInput(f"unknown model {spec!r}; built-ins are {sorted(BUILTINS)}, or give module:factory or a checkpoint path")


class ModelByCharge:
    """One potential per total charge, loaded on first use (string SPECs whose factory takes a charge,
    :func:`spec_with_charge`); any other model is one potential for every charge."""

    def __init__(self, model):
        self.model = model
        self._potentials: dict[int | None, BatchedPotential] = {}
        self._warned = False

    def get(self, charge: int) -> BatchedPotential:
        spec = spec_with_charge(self.model, charge) if isinstance(self.model, str) else None
        key = int(charge) if spec is not None else None
        if key is None and charge != 0 and not self._warned:
            log.warning("model %s takes no charge argument; charged systems are evaluated as given", self.name)
            self._warned = True
        if key not in self._potentials:
            self._potentials[key] = load_potential(spec if spec is not None else self.model)
        return self._potentials[key]

    @property
    def name(self) -> str:
        return self.model if isinstance(self.model, str) else type(self.model).__name__


def potential_identity(potential) -> dict:
    """What a saved result must match to count as the same potential (used to refuse resuming).

    A SPEC string is itself (a checkpoint path with its file's SHA-256, so a retrained model at
    the same path is a different potential); an object is its type, its plain-number attributes
    (a Morse depth, a cutoff) and, for a torch module, the SHA-256 of its weights.
    """
    import hashlib

    import torch

    if isinstance(potential, str):
        family = _FAMILY_VERSION.match(potential)
        path = family["version"] if family and family["family"] in FAMILIES else potential
        path = _CHECKPOINT_ARGS.sub(r"\g<path>", path)  # PATH[dtype=...]: the file is PATH
        if Path(path).is_file():  # a checkpoint, or a FAMILY:PATH model file
            return {"spec": potential, "sha256": file_sha256(path)}
        return {"spec": potential}
    identity = {"type": f"{type(potential).__module__}.{type(potential).__qualname__}",
                "params": {k: v for k, v in sorted(getattr(potential, "__dict__", {}).items())
                           if not k.startswith("_") and isinstance(v, (bool, int, float, str))}}
    if isinstance(potential, torch.nn.Module):
        digest = hashlib.sha256()
        for name, tensor in sorted(potential.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        identity["weights_sha256"] = digest.hexdigest()
    return identity
