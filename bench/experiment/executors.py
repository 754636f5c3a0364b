"""Where the ensembles of a sweep train: ``local`` (in this process, the default) or ``ray`` (each job
one Ray task, on a local instance or a cluster). Either way this process is the only writer: results
come back as rows and are stored here as each job ends, so a crash of this process loses at most the
jobs in flight and rerunning the sweep resumes."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from bench.core.errors import BenchError, UsageError
from bench.models import plugin_modules
from bench.experiment.execute import JobRunner
from bench.experiment.plan import Job
from bench.experiment.progress import CellProgress

Rows = list[dict[str, Any]]
EXECUTORS = ("local", "ray")
RAY_RETRIES = 2  # a job whose worker dies is run again at most this many times, then recorded as "error"
CONNECT_TIMEOUT_S = 5.0
# a cluster's --address as ray.init takes it (besides auto and local): HOST:PORT of a head node, or
# ray://HOST[:PORT] of Ray Client (default port 10001); HOST may be [IPv6]
CLUSTER = re.compile(r"(?P<client>ray://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?")


class LocalExecutor:
    """Every job in this process on ``device``, one after another; each ensemble is written as it ends."""

    def __init__(self, device: torch.device):
        self.device = device

    def describe(self) -> str:
        return f"local ({self.device})"

    def run(self, jobs: Sequence[Job], runner: JobRunner, write: Callable[[Rows], None]) -> None:
        runner = runner.on(self.device)
        tasks = [runner.task(job, self.device) for job in jobs]
        shapes = [runner.shape(job, task) for job, task in zip(jobs, tasks)] if runner.sizer else []
        with CellProgress(sum(map(len, jobs)), bar=runner.progress) as cells:
            for j, (job, task) in enumerate(zip(jobs, tasks)):
                # measuring the ensemble sizes is budgeted against every job of this shape still to run
                ahead = sum(steps for key, steps in shapes[j:] if key == shapes[j][0]) if shapes else None
                parts = runner.parts(job, task, ahead)
                for part in parts:
                    rows = runner.run(part, task)
                    write(rows)
                    cells.update(rows)


def _train_on_worker(runner: JobRunner, job: Job, use_gpu: bool) -> Rows:
    """A Ray task: the job's ensembles on this worker's GPU (Ray sets CUDA_VISIBLE_DEVICES) or CPU, without
    progress bars (the driver shows the sweep's)."""
    device = torch.device("cuda" if use_gpu else "cpu")
    runner = replace(runner, progress=False)
    task = runner.task(job, device)
    parts = runner.parts(job, task)
    return [row for part in parts for row in runner.run(part, task)]


class RayExecutor:
    """Each job is one Ray task with ``gpus_per_job`` GPUs (default: 1 when the cluster has GPUs, else 0)
    and one CPU. ``address``: a running cluster ("auto", "ray://host:10001", ...); None starts a local
    instance for this sweep. The loaded tasks travel through Ray's object store, so workers need neither
    the data directory nor a network. A job whose worker process or node dies is retried by Ray up to
    RAY_RETRIES times, then its cells are stored with status "error"."""

    def __init__(self, address: str | None = None, gpus_per_job: float | None = None):
        self.address, self.gpus_per_job = address, gpus_per_job

    def describe(self) -> str:
        return f"ray ({self.address or 'local instance'}); workers' devices are in the result rows"

    def run(self, jobs: Sequence[Job], runner: JobRunner, write: Callable[[Rows], None]) -> None:
        ray = import_ray()
        debug = runner.debug
        started_here = not ray.is_initialized()
        if started_here:
            _check_reachable(self.address)
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=debug, logging_level="ERROR")
            except ConnectionError as exc:
                raise BenchError(f"cannot connect to a Ray cluster at --address {self.address} ({exc}); start "
                                 f"one with `ray start --head`, or leave out --address for a local instance") from None
        try:
            for module in plugin_modules():  # the user's plugin files exist only here: ship their code
                ray.cloudpickle.register_pickle_by_value(module)
            gpus, available = self.gpus_per_job, ray.cluster_resources().get("GPU", 0)
            if gpus is None:
                gpus = 1 if available > 0 else 0
            if gpus > available:  # Ray would wait for such a worker forever
                raise BenchError(f"--gpus-per-job {gpus} but the Ray cluster has {available:g} GPUs; lower it "
                                 f"(0 trains on CPUs) or add GPU nodes")
            remote = ray.remote(_train_on_worker).options(num_cpus=1, num_gpus=gpus, max_retries=RAY_RETRIES,
                                                          retry_exceptions=False)
            shared = ray.put(runner)
            pending = {remote.remote(shared, job, gpus > 0): job for job in jobs}
            with CellProgress(sum(map(len, jobs)), bar=runner.progress) as cells:
                while pending:
                    (done,), _ = ray.wait(list(pending), num_returns=1)
                    job = pending.pop(done)
                    try:
                        rows = ray.get(done)
                    except ray.exceptions.RayError as exc:
                        if debug and isinstance(exc, ray.exceptions.RayTaskError):
                            raise
                        rows = runner.failed(job, _reason(ray, exc))
                    write(rows)
                    cells.update(rows)
        finally:
            if started_here:
                ray.shutdown()


def _reason(ray, exc: Exception) -> str:
    """One line for a job's rows: the worker's own exception, or how the worker was lost."""
    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        cause = exc.cause
        return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return f"{type(exc).__name__} after {RAY_RETRIES} retries: {text.splitlines()[0] if text else ''}"


def _check_reachable(address: str | None) -> None:
    """Fail in seconds, not minutes, when HOST:PORT (or ray://HOST:PORT) does not answer; other forms
    (auto, local, ...) are left to Ray."""
    host, sep, port = (address or "").removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise BenchError(f"no Ray cluster answers at --address {address} ({exc}); give HOST:PORT of a head node "
                         f"started with `ray start --head` (or auto), or leave out --address for a local "
                         f"instance") from None


def _check_address(address: str | None) -> None:
    """Refuse an --address no Ray cluster can have, before Ray is started."""
    if address is None or address in ("auto", "local"):
        return
    form = CLUSTER.fullmatch(address)
    if form is None or not (form["port"] or form["client"]) or not 0 < int(form["port"] or 1) < 2**16:
        raise UsageError(f"--address {address!r} is not a Ray cluster's address; give auto, HOST:PORT of a head "
                         f"node (e.g. 127.0.0.1:6379) or ray://HOST:10001, or leave it out for a local instance")


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed; install the extra with "
                         "pip install -e \".[ray]\" (or pip install \"ray>=2.9\")") from None
    return ray


def make_executor(name: str, device: torch.device, address: str | None = None, gpus_per_job: float | None = None):
    """The executor called ``name`` ("local" or "ray")."""
    if name == "local":
        if address is not None or gpus_per_job is not None:
            raise UsageError("--address and --gpus-per-job apply to --executor ray only")
        return LocalExecutor(device)
    if name == "ray":
        _check_address(address)
        if gpus_per_job is not None and gpus_per_job < 0:
            raise UsageError(f"--gpus-per-job must be >= 0, got {gpus_per_job}")
        import_ray()
        return RayExecutor(address, gpus_per_job)
    raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "LocalExecutor", "RayExecutor", "import_ray", "make_executor"]
