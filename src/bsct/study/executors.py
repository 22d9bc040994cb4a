"""Where a study's jobs run: in this process one after the other, or one task per job on a
Dask cluster. Both take the job function and report each job through ``on_done(job, row)`` or
``on_fail(job, exception)``: one broken potential never stops the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any


class StudyJobsFailed(RuntimeError):
    """Some potentials' jobs raised; the others ran to the end and every finished step is cached.

    ``failures`` lists (system, potential, error message)."""

    def __init__(self, failures: list[tuple[str, str, str]], n_jobs: int, out_dir: str):
        self.failures = failures
        lines = "\n".join(f"  {system}/{name}: {msg}" for system, name, msg in failures)
        super().__init__(f"{len(failures)} of {n_jobs} study jobs failed:\n{lines}\nThe other jobs finished and "
                         f"every finished step is cached under {out_dir}; rerun the same command to retry.")


def run_local(jobs: Sequence, run_job: Callable, on_done: Callable, on_fail: Callable) -> None:
    """``run_job(job)`` for every job in order, in this process."""
    for job in jobs:
        try:
            row = run_job(job)
        except Exception as exc:  # noqa: BLE001 - one broken potential must not stop the others
            on_fail(job, exc)
            continue
        on_done(job, row)


@contextlib.contextmanager
def local_dask_cluster(n_workers: int, processes: bool = True):
    """A Dask ``LocalCluster`` of one-thread workers that keep glibc's default ``malloc`` tuning.

    Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to its workers to hand memory back to
    the OS. Setting that variable at all also fixes glibc's mmap threshold at 128 KiB, so every
    large torch temporary becomes a fresh ``mmap`` whose pages fault in zero-filled: about a third
    of a study worker's CPU went to the kernel (docs/benchmarks.md, "Dask workers and malloc").
    The setting holds for the cluster's whole life: nannies start (and restart) workers after
    ``LocalCluster()`` returns.
    """
    import dask
    from dask.distributed import LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                         dashboard_address=":0") as cluster:  # any free port: never clash with another cluster
        yield cluster


def bounded_dask_map(client, fn: Callable, items: Sequence, key: Callable[[Any], str],
                     on_result: Callable[[Any, Any], None], on_error: Callable[[Any, Exception], None]) -> None:
    """Run ``fn(item)`` for every item on the Dask cluster of ``client``, keeping exactly as many
    tasks in flight as the cluster has worker threads, in the order of ``items``.

    Submitting everything at once left the choice of worker to Dask: tasks with unique keys form
    one-task groups with no duration estimate, which Dask neither queues nor steals, and in the
    full study it put 37 of 46 jobs on one worker while the other sat idle. Here a worker that
    finishes gets the next item, and a job list's order is its priority.
    """
    from collections import deque

    from dask.distributed import as_completed

    todo = deque(items)
    in_flight = as_completed()
    owner: dict = {}

    def top_up() -> None:
        capacity = max(1, sum(client.nthreads().values()))  # workers of an outside cluster may come and go
        while todo and in_flight.count() < capacity:
            item = todo.popleft()
            future = client.submit(fn, item, pure=False, key=key(item))
            owner[future.key] = item
            in_flight.add(future)

    top_up()
    for future in in_flight:
        item = owner.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - one broken item must not stop the others
            on_error(item, exc)
        else:
            on_result(item, result)
        top_up()


def run_dask(jobs: Sequence, run_job: Callable, on_done: Callable, on_fail: Callable, address: str | None,
             n_workers: int, processes: bool) -> None:
    """``run_job(job)`` as one Dask task per job (key ``bsct-study-SYSTEM-SLUG``) on the scheduler
    at ``address``, or on a fresh :func:`local_dask_cluster` of ``n_workers`` workers.
    ``run_job`` must pickle (a module-level function, or a ``functools.partial`` of one)."""
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError('executor "dask" needs dask.distributed: pip install "dask[distributed]"') from exc
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(local_dask_cluster(n_workers, processes))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(address))
        bounded_dask_map(client, run_job, jobs, key=lambda job: f"bsct-study-{job.system}-{job.slug}",
                         on_result=on_done, on_error=on_fail)
