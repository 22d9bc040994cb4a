"""bsct: Bond Smoothness Characterization Test for machine-learning interatomic potentials."""

__version__ = "0.1.0"

__all__ = ["run_bsct", "BSCTConfig", "load_potential", "run_fsd", "__version__"]


def __getattr__(name):  # lazy, so `import bsct` stays light and has no side effects
    if name in ("run_bsct", "BSCTConfig"):
        from bsct.scan import api

        return getattr(api, name)
    if name == "run_fsd":
        from bsct.fsd.run import run_fsd

        return run_fsd
    if name == "load_potential":
        from bsct.registry import load_potential

        return load_potential
    raise AttributeError(f"module 'bsct' has no attribute {name!r}")
