"""Is a study training repeatable? Retrain one study model in a fresh process and compare it, epoch by
epoch and weight by weight, with the checkpoint the study cached (docs/results.md, "Reproducibility").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/retrain_study_model.py si +diffknn /tmp/retrain-si
    # [--size full] [--study-dir runs/study-full] [--threads 1]; ~13 min for a full-size Si model here
"""
import argparse
import time
from pathlib import Path

import torch

from bsct.model.checkpoint import load_checkpoint
from bsct.study.config import StudyConfig, potential_zoo
from bsct.study.steps import train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system")
    parser.add_argument("potential", help="a trained potential of the zoo, e.g. +diffknn or T=0.05")
    parser.add_argument("out", type=Path, help="fresh folder for the retrained model")
    parser.add_argument("--size", default="full")
    parser.add_argument("--study-dir", type=Path, default=Path("runs/study-full"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the study uses 1)")
    args = parser.parse_args()
    cfg = StudyConfig(systems=(args.system,), size=args.size, seed=0, out_dir=str(args.out), progress=False)
    torch.set_num_threads(args.threads)
    trained = {j.name: j for j in potential_zoo(args.system, cfg.study_size) if j.trained}
    if args.potential not in trained:
        parser.error(f"{args.potential!r} is not a trained potential of {args.system}; choose from {', '.join(trained)}")
    job = trained[args.potential]
    args.out.mkdir(parents=True, exist_ok=True)
    reused = (args.out / "model.pt").exists()
    t0 = time.perf_counter()
    train_step(job, cfg, args.out)  # the study's own training step: same settings, same cache rules
    print(f"reused the model already in {args.out}" if reused
          else f"retrained in {time.perf_counter() - t0:.0f} s with {args.threads} thread(s)")
    new = load_checkpoint(args.out / "model.pt")
    cached = load_checkpoint(args.study_dir / args.system / job.slug / "model.pt")
    same = [a["train_loss"] == b["train_loss"] for a, b in zip(new["history"], cached["history"])]
    print(f"train loss equal in {sum(same)} of {len(same)} epochs (epochs run: {len(new['history'])} now, "
          f"{len(cached['history'])} cached)"
          + ("" if all(same) else f"; first difference at epoch {same.index(False) + 1}"))
    identical = all(torch.equal(a, b) for a, b in zip(new["model_state"].values(), cached["model_state"].values()))
    print("weights bit-identical:", identical)


if __name__ == "__main__":
    main()
