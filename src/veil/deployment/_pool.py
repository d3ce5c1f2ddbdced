"""A small pool of evaluation workers (spawned processes), replaced when one dies.

The HTTP process never imports concrete-python: every evaluation runs in a worker
(:mod:`veil.deployment._worker_process`). A worker that dies (abort, segfault, killed for memory) or
overruns its time limit fails only the job it was running: the pool starts a replacement and the
caller gets :class:`WorkerCrashError` with the reason. One worker runs one job at a time; jobs for a key
go preferably to a worker that already holds those keys deserialized.

``concurrent.futures.ProcessPoolExecutor`` is not used because one dead worker breaks the whole
executor, failing the other clients' jobs along with it.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..errors import VeilError
from ._worker_process import worker_main

logger = logging.getLogger("veil.deployment")
_START_TIMEOUT = 300.0  # seconds for a worker to compile the circuit
_RESTART_ATTEMPTS = 3


class WorkerCrashError(VeilError, RuntimeError):
    """The worker running a job died or overran its time limit; ``reason`` says how."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(f"the evaluation worker {reason}")
        self.reason = reason
        self.timed_out = timed_out


class WorkerInputError(VeilError, ValueError):
    """The job's input (a client's keys or ciphertexts) cannot be evaluated."""


class WorkerError(VeilError, RuntimeError):
    """The worker failed for a reason on the server's side (or no worker is left)."""


def log_event(level: int, event: str, **fields) -> None:
    """One log record per event: ``event key=value ...`` as text, the same fields as record attributes."""
    text = " ".join([event, *(f"{name}={value}" for name, value in fields.items())])
    logger.log(level, text, extra={"event": event, **fields})


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context, server_dir: Path, cached_keys: int):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=worker_main, args=(child_end, str(server_dir), cached_keys), daemon=True
        )
        self.process.start()
        child_end.close()  # so that the worker's death reads as EOF here
        self.cached_keys = cached_keys
        self.key_ids: OrderedDict[str, None] = OrderedDict()  # mirrors the worker's key cache

    def wait_ready(self) -> dict:
        try:
            return self.call(("ready",), _START_TIMEOUT, job_sent=True)
        except WorkerCrashError as crash:
            raise WorkerError(f"an evaluation worker could not start: it {crash.reason}") from None

    def call(self, job: tuple, timeout: float, job_sent: bool = False):
        try:
            if not job_sent:
                self.connection.send(job)
            if not self.connection.poll(timeout):
                self.kill()
                raise WorkerCrashError(f"did not finish within {timeout:g} s and was stopped", timed_out=True)
            status, value = self.connection.recv()
        except (EOFError, OSError):
            raise WorkerCrashError(self._death()) from None
        if status == "refused":
            raise WorkerInputError(value)
        if status == "error":
            raise WorkerError(value)
        return value

    def remember(self, key_id: str) -> None:
        self.key_ids[key_id] = None
        self.key_ids.move_to_end(key_id)
        while len(self.key_ids) > self.cached_keys:
            self.key_ids.popitem(last=False)

    def _death(self) -> str:
        self.process.join(timeout=10)
        code = self.process.exitcode
        if code is None:
            self.kill()
            return "stopped answering and was stopped"
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        return f"exited with status {code}"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.connection.close()


class WorkerPool:
    """``size`` evaluation workers for the model in ``server_dir``.

    Parameters
    ----------
    server_dir : str or pathlib.Path
        Directory holding ``server.veil``.
    size : int
        Number of workers, hence of evaluations running at once.
    cached_keys : int
        Deserialized evaluation keys each worker keeps (least recently used ones are dropped).
    timeout : float
        Seconds one job may run before its worker is stopped.
    """

    def __init__(self, server_dir, size: int = 1, cached_keys: int = 2, timeout: float = 600.0):
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got size={size}")
        self.server_dir = Path(server_dir)
        self.timeout = timeout
        self._cached_keys = cached_keys
        self._context = multiprocessing.get_context("spawn")
        self._available = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers = 0
        self.restarts = 0
        starting = [self._spawn() for _ in range(size)]
        try:
            infos = [worker.wait_ready() for worker in starting]
        except WorkerError:
            for worker in starting:
                worker.kill()
            raise
        self.info: dict = {
            key: infos[0][key] for key in ("model_id", "evaluation_key_bytes", "ciphertext_shape")
        }
        self._idle, self._workers = starting, size
        self.probe: bytes = self.run(("probe_ciphertext",))

    @property
    def size(self) -> int:
        return self._workers

    def run(self, job: tuple, key_id: str | None = None):
        """Run ``job`` on an idle worker (one holding ``key_id`` if possible) and return its result.

        Raises :class:`WorkerCrashError` (the worker died; it was replaced), :class:`WorkerInputError` (bad
        client input) or :class:`WorkerError`.
        """
        worker = self._acquire(key_id)
        try:
            result = worker.call(job, self.timeout)
        except WorkerCrashError as crash:
            log_event(logging.ERROR, "worker_died", pid=worker.process.pid, job=job[0], reason=crash.reason)
            worker = self._replace(worker)
            raise
        finally:
            self._release(worker)
        if key_id is not None:
            worker.remember(key_id)
        return result

    def forget(self, key_id: str) -> None:
        """Drop ``key_id`` from the idle workers holding it (deleted keys leave memory with their file)."""
        with self._available:
            holders = [worker for worker in self._idle if key_id in worker.key_ids]
            for worker in holders:
                self._idle.remove(worker)
        for worker in holders:
            try:
                worker.call(("forget", key_id), self.timeout)
                worker.key_ids.pop(key_id, None)
            except WorkerCrashError:
                worker = self._replace(worker)
            finally:
                self._release(worker)

    def close(self) -> None:
        with self._available:
            workers, self._idle, self._workers = self._idle, [], 0
            self._available.notify_all()
        for worker in workers:
            worker.kill()

    def _spawn(self) -> _Worker:
        return _Worker(self._context, self.server_dir, self._cached_keys)

    def _acquire(self, key_id: str | None) -> _Worker:
        with self._available:
            while not self._idle:
                if self._workers == 0:
                    raise WorkerError("no evaluation worker is running (see the server log)")
                self._available.wait()
            holder = next((w for w in self._idle if key_id is not None and key_id in w.key_ids), None)
            worker = holder or self._idle[0]
            self._idle.remove(worker)
            return worker

    def _release(self, worker: _Worker | None) -> None:
        with self._available:
            if worker is None:
                self._workers -= 1
            else:
                self._idle.append(worker)
            self._available.notify()

    def _replace(self, dead: _Worker) -> _Worker | None:
        """A started replacement for ``dead``, or None (the pool shrinks) if none would start."""
        dead.kill()
        for attempt in range(1, _RESTART_ATTEMPTS + 1):
            started = time.monotonic()
            worker = self._spawn()
            try:
                worker.wait_ready()
            except WorkerError as error:
                log_event(logging.ERROR, "worker_start_failed", attempt=attempt, reason=str(error))
                worker.kill()
                continue
            self.restarts += 1
            seconds = f"{time.monotonic() - started:.2f}"
            log_event(logging.WARNING, "worker_restarted", pid=worker.process.pid, seconds=seconds)
            return worker
        return None
