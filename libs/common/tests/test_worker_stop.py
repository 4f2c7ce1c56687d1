"""A worker always stops: a part that will not end is left behind and logged, and stop() returns (f9).

A worker's stop() used to wait as long as its slowest part. One periodic job that swallowed every
cancellation, or a broker that stopped reading from a blocked connection, held it forever; in the test suite
that took a whole pytest worker's shared stack down with it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from yui_common import worker as worker_module
from yui_common.worker import PeriodicJob, Worker, declare_topology

from libs.common.tests.library_support import LibrarySettings


async def test_f9_a_job_that_swallows_every_cancellation_is_left_behind_and_named_and_stop_returns(
    library_settings: LibrarySettings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(worker_module, "STOP_TASK_WITHIN_S", 2.0)
    released = asyncio.Event()
    started = asyncio.Event()
    cancellations = 0

    async def stubborn(_: Worker) -> None:
        nonlocal cancellations
        started.set()
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1  # swallowed, as a library's cleanup sometimes does (gh-86296)

    async def polite(_: Worker) -> None:
        await asyncio.sleep(3600)

    worker = Worker(
        settings=library_settings,
        jobs=[PeriodicJob("stubborn-job", 3600, stubborn), PeriodicJob("polite-job", 3600, polite)],
        run_relay=False,
    )
    await declare_topology(library_settings, worker.subscriptions)
    await worker.start()
    tasks = {task.get_name(): task for task in worker._tasks}
    await asyncio.wait_for(started.wait(), 30)

    with caplog.at_level(logging.ERROR, logger="yui_common.worker"):
        await asyncio.wait_for(worker.stop(), 120)  # the bound is the test's own guard, not a target

    stubborn_task, polite_task = tasks["stubborn-job"], tasks["polite-job"]
    assert not stubborn_task.done() and cancellations >= 2  # cancelled again and again, then left behind
    assert polite_task.cancelled()  # the others still stopped
    [left_behind] = [r for r in caplog.records if "stubborn-job" in r.getMessage()]
    assert "did not end" in left_behind.getMessage()
    assert worker.connection is not None and worker.connection.is_closed

    assert "in stubborn" in left_behind.getMessage()  # where it waits, down to the job's own frame

    # Once its wait ends, the job left behind does not run again beside a restarted worker: its loop sees
    # that the worker stopped and ends by itself (the one cancel below only wakes it, and is swallowed).
    released.set()
    stubborn_task.cancel()
    await asyncio.wait({stubborn_task}, timeout=30)
    assert stubborn_task.done() and not stubborn_task.cancelled()


async def test_f9_a_step_of_stopping_that_hangs_is_abandoned_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(worker_module, "STOP_STEP_WITHIN_S", 1.0)
    forever = asyncio.Event()

    with caplog.at_level(logging.ERROR, logger="yui_common.worker"):
        await asyncio.wait_for(worker_module._bounded("the broker connection's close", forever.wait()), 60)

    [record] = [r for r in caplog.records if r.name == "yui_common.worker"]
    assert "the broker connection's close did not finish" in record.getMessage()


async def test_f9_a_worker_stopped_and_started_again_in_place_runs_its_jobs_again(
    library_settings: LibrarySettings,
) -> None:
    runs = 0

    async def counting(_: Worker) -> None:
        nonlocal runs
        runs += 1

    worker = Worker(
        settings=library_settings, jobs=[PeriodicJob("counting-job", 0.05, counting)], run_relay=False
    )
    await declare_topology(library_settings, worker.subscriptions)
    await worker.start()
    await worker.stop()
    after_first_run = runs
    await worker.start()  # as tests restart a stack's worker in place (tests/e2e/test_revocation.py)
    try:
        for _ in range(600):
            if runs > after_first_run + 2:
                break
            await asyncio.sleep(0.05)
        assert runs > after_first_run + 2  # the restarted run's loop is not stopped by the earlier stop()
    finally:
        await worker.stop()
