"""``bsct train``: train the reference Transformer MLIP.

Examples::

    bsct train --config final --data cu --out runs/cu-final            # committed ci data set
    bsct train --config configs/final.json --data train.extxyz --val val.extxyz --out runs/x

``--config`` is a named config (baseline, +diffknn, +temperature, final) or a JSON (or YAML,
when PyYAML is installed) file::

    {"model": {"preset": "final", "hidden_dim": 64},   # or just "final"
     "train": {"epochs": 200, "batch_size": 4, "bsct_every_epochs": 10},
     "data":  {"train": "train.extxyz", "val": "val.extxyz", "test": "test.extxyz"}}

Writes ``model.pt`` (checkpoint, usable as a SPEC in ``bsct scan`` / ``bsct md``),
``history.json``, ``metrics.json`` and ``history.png`` (loss and BSCT score) into ``--out``.
An interrupted run, started again with ``--resume`` and the same ``--out``, settings and data,
continues from its last finished epoch (``train_state.pt``); without ``--resume`` such an
``--out`` is refused (exit 2), and with it a state of other settings or data is refused too.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("bsct.train")

CI_SYSTEMS = ("cu", "si", "water", "molecules")

#: what training writes into --out (the CLI owns --out for the run: bsct.runs.RunDir)
OUTPUTS = ("model.pt", "train_state.pt", "history.json", "metrics.json", "history.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="named config (baseline, +diffknn, +temperature, final) or a JSON/YAML file")
    parser.add_argument("--data", help="training structures: extxyz / ASE db, or ci:SYSTEM[/SPLIT] for the committed "
                        f"ci data (split defaults to train; a bare system name {CI_SYSTEMS} works too)")
    parser.add_argument("--val", help="validation structures, file or ci:SYSTEM[/SPLIT] (split defaults to val; "
                        "default: the ci val split when --data names a ci system, else the training set)")
    parser.add_argument("--test", help="test structures, file or ci:SYSTEM[/SPLIT] (split defaults to test; "
                        "default: the ci test split when --data names a ci system)")
    parser.add_argument("--out", default="runs/train", help="output directory (default: %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted training saved in OUT (same settings and data); without it "
                        "an OUT holding one is refused")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size")
    parser.add_argument("--lr", type=float, help="override train.lr")
    parser.add_argument("--seed", type=int, help="override train.seed")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    parser.add_argument("--bsct-every", type=int, help="BSCT score every N epochs (0 = off)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model config field, e.g. --set hidden_dim=32 (repeatable)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", help="torch device to train on, e.g. cuda (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _read_config_file(path: Path) -> dict:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise ValueError(f"{path}: YAML configs need PyYAML; use JSON instead") from exc
        return yaml.safe_load(text) or {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def _data_arg(spec: str | None) -> str | None:
    """A bare ci system name that is not a file here means ``ci:SYSTEM`` (its older spelling)."""
    return f"ci:{spec}" if spec in CI_SYSTEMS and not Path(spec).exists() else spec


def _resolve_data(spec: str | None, split: str) -> Path | None:
    from bsct.data import resolve_data_arg

    return None if spec is None else resolve_data_arg(_data_arg(spec), default_split=split)


def run(args: argparse.Namespace) -> int:
    import ast

    from bsct.data import parse_ci_arg
    from bsct.data.io import read_structures
    from bsct.model.config import ModelConfig, named_config
    from bsct.runs import BadInput
    from bsct.train.callbacks import default_score_fn
    from bsct.train.loop import TrainConfig, check_no_saved_state, train

    if not args.resume:
        check_no_saved_state(args.out)
    config_path = Path(args.config)
    spec = _read_config_file(config_path) if config_path.suffix in (".json", ".yaml", ".yml") or config_path.is_file() else {"model": args.config}
    model_spec = spec.get("model", "final")
    if isinstance(model_spec, str):
        model_spec = {"preset": model_spec}
    model_spec = dict(model_spec)
    preset = model_spec.pop("preset", None)
    for item in args.set:
        key, _, value = item.partition("=")
        if not key.strip() or not value.strip():
            from dataclasses import fields

            raise BadInput(f"--set {item!r}: give KEY=VALUE, e.g. --set hidden_dim=32; the keys are "
                           f"{', '.join(f.name for f in fields(ModelConfig))}")
        try:
            model_spec[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            model_spec[key.strip()] = value.strip()
        default = getattr(ModelConfig(), key.strip(), None)
        given = model_spec[key.strip()]
        if isinstance(default, (int, float)) and not isinstance(given, (int, float)) or \
                isinstance(default, bool) and not isinstance(given, bool):
            raise BadInput(f"--set {item!r}: {key.strip()} takes a {type(default).__name__} "
                           f"(default {default!r}), got {given!r}")
    model_config = named_config(preset, **model_spec) if preset else ModelConfig.from_dict(model_spec)

    train_spec = dict(spec.get("train", {}))
    for key, value in [("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr), ("seed", args.seed),
                       ("max_steps", args.max_steps), ("bsct_every_epochs", args.bsct_every), ("device", args.device)]:
        if value is not None:
            train_spec[key] = value
    if args.no_progress:
        train_spec["progress"] = False
    train_config = TrainConfig.from_dict(train_spec)

    data_spec = dict(spec.get("data", {}))
    data_name = args.data or data_spec.get("train")
    if data_name is None:
        raise ValueError("no training data: give --data or data.train in the config")
    ci = parse_ci_arg(_data_arg(data_name))
    ci_name = f"ci:{ci[0]}" if ci else None  # its val and test splits are the defaults
    train_path = _resolve_data(data_name, "train")
    val_path = _resolve_data(args.val or data_spec.get("val") or ci_name, "val")
    test_path = _resolve_data(args.test or data_spec.get("test") or ci_name, "test")

    train_structures = read_structures(train_path)
    val_structures = read_structures(val_path) if val_path else None
    test_structures = read_structures(test_path) if test_path and test_path.exists() else None
    log.info("training %s on %d structures (%s), validating on %s", preset or "custom config", len(train_structures),
             train_path, f"{len(val_structures)} ({val_path})" if val_structures else "the training set")
    score_structures = (val_structures or train_structures)[:2]
    result = train(model_config, train_structures, val_structures, train_config, args.out,
                   score_fn=default_score_fn(score_structures), test_structures=test_structures, resume=args.resume)
    result.save(args.out)
    for split, m in result.metrics.items():
        log.info("%s: energy RMSE %.2f meV/atom (MAE %.2f), force RMSE %.1f meV/Å (MAE %.1f)", split,
                 m["energy_rmse_mev_per_atom"], m["energy_mae_mev_per_atom"],
                 m["force_rmse_mev_per_angstrom"], m["force_mae_mev_per_angstrom"])
    log.info("checkpoint: %s", result.checkpoint_path)
    return 0
