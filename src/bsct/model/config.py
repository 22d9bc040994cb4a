"""Configuration of the reference Transformer MLIP and the named design steps.

The four named configs are the paper's design steps, each one switch on top of the previous:

=============  ======================================================================
name           change
=============  ======================================================================
baseline       hard k-nearest-neighbour graph, plain softmax attention (T = 1), narrow
               radial Gaussians (width multiplier 1)
+diffknn       differentiable k-NN: soft ranks, mutual soft maximum, smooth fade in
               log space (``graph="diffknn"``)
+temperature   attention logits divided by a temperature T = 2 (damps attention spikes)
final          broadened radial smearing: Gaussian widths x 2
=============  ======================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

GraphKind = Literal["knn", "diffknn", "radius"]
ForceHead = Literal["gradient", "direct"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`bsct.model.transformer.TransformerMLIP`.

    Attributes:
        elements: atomic numbers the model knows (embedding rows), sorted.
        hidden_dim: width of the per-atom features.
        n_layers: number of attention blocks.
        n_heads: attention heads; ``hidden_dim`` must be a multiple.
        n_vector_channels: invariant angular channels per block (norms of attention-weighted
            sums of unit bond vectors); 0 switches them off.
        mlp_ratio: width of the feed-forward block relative to ``hidden_dim``.
        n_rbf: number of Gaussian radial basis functions on [0, r_cut].
        rbf_width_multiplier: Gaussian width in units of the centre spacing (the "radial
            smearing"; broadened smearing = larger value).
        r_cut_angstrom: candidate neighbours lie within this distance.
        k_neighbors: k of the k-NN graphs.
        graph: ``"knn"`` (hard), ``"diffknn"`` (differentiable) or ``"radius"`` (all
            candidates with a smooth distance envelope).
        soft_rank_scale_angstrom: s in the soft rank sum_l sigmoid((d_ij - d_il) / s).
        softmax_temperature: tau of the soft maximum tau * logsumexp(x / tau).
        envelope_onset: fraction m_on of the neighbourhood measure m in [0, 1) where the fade
            starts (diffknn and radius graphs).
        attention_temperature: T dividing the attention logits (1 = plain softmax).
        learn_temperature: make T a trainable parameter (one per head, kept >= 0.1).
        dtype: ``"float32"`` or ``"float64"``, the dtype the model is built in.
        force_head: ``"gradient"`` (F = -dE/dx, conservative) or ``"direct"`` (forces read
            out per atom from the last block's features, not the gradient of any energy: the
            non-conservative design that the study uses as a deliberately weaker potential).
        degree_embedding: add to each atom's input features a linear map of the sum of its edges'
            radial features, weighted by the edge fade exp(g) and divided by k. Softmax attention
            averages over neighbours and cannot count them; this sum can, so an atom at a surface
            or next to a vacancy is told apart from a bulk atom (docs/results.md, "Energies by
            structure type"). It is as smooth as the graph. Off in the named configs.
    """

    elements: tuple[int, ...] = (29,)
    hidden_dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_vector_channels: int = 8
    mlp_ratio: int = 2
    n_rbf: int = 32
    rbf_width_multiplier: float = 1.0
    r_cut_angstrom: float = 6.0
    k_neighbors: int = 30
    graph: GraphKind = "knn"
    soft_rank_scale_angstrom: float = 0.2
    softmax_temperature: float = 0.1
    envelope_onset: float = 0.75
    attention_temperature: float = 1.0
    learn_temperature: bool = False
    dtype: str = "float32"
    force_head: ForceHead = "gradient"
    degree_embedding: bool = False

    # fields added after models were trained and cached: left out of to_dict() at their default,
    # so the fingerprints and resume keys of those models stay valid (and old checkpoints load)
    _ADDED_LATER = {"degree_embedding": False}

    def __post_init__(self):
        if self.graph not in ("knn", "diffknn", "radius"):
            raise ValueError(f"graph must be knn, diffknn or radius, got {self.graph!r}")
        if self.hidden_dim % self.n_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_vector_channels % self.n_heads:
            raise ValueError("n_vector_channels must be a multiple of n_heads")
        if not 0.0 <= self.envelope_onset < 1.0:
            raise ValueError("envelope_onset must lie in [0, 1)")
        if self.attention_temperature <= 0 or self.softmax_temperature <= 0:
            raise ValueError("temperatures must be positive")
        if self.force_head not in ("gradient", "direct"):
            raise ValueError(f"force_head must be gradient or direct, got {self.force_head!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        object.__setattr__(self, "elements", tuple(sorted(int(z) for z in self.elements)))

    def to_dict(self) -> dict:
        """Plain Python types only (safe for ``torch.load(weights_only=True)`` and JSON)."""
        d = asdict(self)
        d["elements"] = list(d["elements"])
        for key, default in self._ADDED_LATER.items():
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
        data = dict(data)
        if "elements" in data:
            data["elements"] = tuple(data["elements"])
        return cls(**data)


# Each design step is the previous one plus one change (see module docstring).
_BASELINE = ModelConfig()
_DIFFKNN = replace(_BASELINE, graph="diffknn")
_TEMPERATURE = replace(_DIFFKNN, attention_temperature=2.0)
_FINAL = replace(_TEMPERATURE, rbf_width_multiplier=2.0)

NAMED_CONFIGS: dict[str, ModelConfig] = {
    "baseline": _BASELINE,
    "+diffknn": _DIFFKNN,
    "+temperature": _TEMPERATURE,
    "final": _FINAL,
}


def named_config(name: str, **overrides) -> ModelConfig:
    """A named design step (``baseline``, ``+diffknn``, ``+temperature``, ``final``) with overrides.

    ``diffknn`` and ``temperature`` are accepted without the leading ``+``.
    """
    key = name if name in NAMED_CONFIGS else f"+{name}"
    if key not in NAMED_CONFIGS:
        raise ValueError(f"unknown model config {name!r}; named configs are {list(NAMED_CONFIGS)}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
    if "elements" in overrides:
        overrides["elements"] = tuple(overrides["elements"])
    return replace(NAMED_CONFIGS[key], **overrides)

