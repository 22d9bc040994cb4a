"""A Lightning callback that ``nequip-train`` builds from our config (``_target_`` by import path).

It runs inside the ``nequip-train`` process started by :func:`bsct.train.external.train_nequip`,
so it may import ``lightning`` at the top: only that process, which has the ``zoo`` extra, loads it.
"""

from __future__ import annotations

from pathlib import Path

import lightning


class SaveAtEpochs(lightning.Callback):
    """Save a full Lightning checkpoint after each listed epoch (1-based count of finished epochs).

    Lightning's ``ModelCheckpoint`` keeps "every n" or "best k"; the zoo needs exact, named
    points along training (``epoch0005.ckpt``), loadable by ``nequip:PATH``.
    """

    def __init__(self, dirpath: str, epochs: list[int]):
        super().__init__()
        self.dirpath = Path(dirpath)
        self.epochs = {int(e) for e in epochs}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        done = trainer.current_epoch + 1
        if done in self.epochs and trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(str(self.dirpath / f"epoch{done:04d}.ckpt"))
