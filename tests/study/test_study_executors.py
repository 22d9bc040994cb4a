"""Where study jobs run: in-process, and a bounded map over a Dask cluster. Deterministic:
placement and ordering are read from Dask's own worker state and from a barrier, not from
wall-clock time."""

import threading

import pytest

from bsct.study.executors import StudyJobsFailed, bounded_dask_map, local_dask_cluster, run_local

# Items 0 and 1 meet at this barrier: it opens only when both run at the same time, i.e. on
# the two workers at once (the timeout only turns a hang into a failure).
_FIRST_TWO = threading.Barrier(2, timeout=60)


def _task(item: int) -> tuple[int, str, int]:
    from dask.distributed import get_worker

    if item in (0, 1):
        _FIRST_TWO.wait()
    worker = get_worker()
    waiting_here = len(worker.state.ready)  # tasks this worker holds but cannot start yet
    if item == 3:
        raise RuntimeError("item 3 is broken")
    return item, worker.address, waiting_here


class _RecordingClient:
    """A Dask client that records what is submitted and how many submitted tasks have not
    been handed back to the caller yet."""

    def __init__(self, client):
        self._client = client
        self.submitted: list = []
        self.outstanding = 0
        self.max_outstanding = 0

    def submit(self, fn, item, **kwargs):
        self.submitted.append(item)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        return self._client.submit(fn, item, **kwargs)

    def returned(self) -> None:
        self.outstanding -= 1

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_dask_jobs_go_to_whichever_worker_is_free_one_per_thread():
    """Every worker gets work and no worker holds a task it cannot start (the full study once
    queued 36 jobs on one worker while the other sat idle); order is priority; a broken item is
    reported and the rest still run."""
    from dask.distributed import Client

    done, failed = [], []
    with local_dask_cluster(2, processes=False) as cluster, Client(cluster) as client:
        recording = _RecordingClient(client)

        def on_result(item, result):
            recording.returned()
            done.append(result)

        def on_error(item, exc):
            recording.returned()
            failed.append((item, str(exc)))

        bounded_dask_map(recording, _task, list(range(8)), key=lambda i: f"busy-{i}", on_result=on_result,
                         on_error=on_error)
        n_threads = sum(client.nthreads().values())
    assert failed == [(3, "item 3 is broken")]
    assert sorted(r[0] for r in done) == [0, 1, 2, 4, 5, 6, 7]
    assert recording.submitted == list(range(8))  # the list's order is the submission order
    assert recording.max_outstanding == n_threads == 2  # never more in flight than worker threads
    first_two = {r[1] for r in done if r[0] in (0, 1)}
    assert len(first_two) == 2  # items 0 and 1 ran at once, one on each worker
    assert all(r[2] == 0 for r in done)  # no worker is handed a backlog the other cannot take


def test_study_dask_workers_keep_the_default_malloc_tuning():
    import os

    import dask
    from dask.distributed import Client

    # the premise: Dask's nanny would export this variable to every worker process
    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")
    with local_dask_cluster(1, processes=True) as cluster, Client(cluster) as client:
        worker_env = client.run(lambda: dict(os.environ))
    (env,) = worker_env.values()
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env.get("OMP_NUM_THREADS") == "1"  # Dask's other worker settings are kept


def test_local_executor_runs_every_job_in_order_past_a_failing_one():
    events = []

    def job_fn(job):
        if job == "b":
            raise ValueError("broken")
        return job.upper()

    run_local(["a", "b", "c"], job_fn, lambda job, row: events.append(("done", job, row)),
              lambda job, exc: events.append(("fail", job, str(exc))))
    assert events == [("done", "a", "A"), ("fail", "b", "broken"), ("done", "c", "C")]


def test_failed_jobs_error_names_each_failure():
    exc = StudyJobsFailed([("cu", "final", "RuntimeError: worker died")], 3, "runs/x")
    assert exc.failures == [("cu", "final", "RuntimeError: worker died")]
    assert str(exc).startswith("1 of 3 study jobs failed:\n  cu/final: RuntimeError: worker died\n")
    assert "cached under runs/x" in str(exc)
    with pytest.raises(RuntimeError):
        raise exc
