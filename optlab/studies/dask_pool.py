"""The Dask executor: trials as tasks on a dask.distributed cluster (docs/distributed.md).

Connecting (:func:`connect`) checks the cluster before any trial starts, because results must not
depend on where a trial ran: the scheduler must answer as a Dask scheduler, have workers, and every
worker must import optlab of the same version and source and the same numpy (the driver's);
anything else is an :class:`~optlab.studies.executor.ExecutorError` (exit 2). Without a scheduler
address a LocalCluster starts on 127.0.0.1: worker processes, one thread each.

A task trains one trial (optlab.studies.trial_work, the local pool's code) into a scratch directory
under the worker's own local directory, whatever file systems the cluster has, and returns the
finished run directory as bytes; the driver writes it into the study atomically
(optlab.record.rundir.land_run). A trial to resume travels the other way first. Progress and
evaluation rows go to the driver as the worker's structured events (``Worker.log_event``, a
batched stream, no round trip): each evaluation when it is made, progress at most every
REPORT_EVERY_S. Stop requests (the study's
signal, TrialControl.stop) are pushed to every worker with ``Client.run``, into this module's
``_STOPS``, which a trial reads after each step at no cost. Where the driver judges evaluations
(``verdicts``: a pruner), the same push carries the last step judged for each trial, which a trial
waits for after each evaluation (optlab.studies.trial_work.wait_for_verdict): the event reaching
the driver wakes its loop, which pushes the verdict at once.

Faults: a worker that dies mid-trial has its task re-run elsewhere by the scheduler, up to
``distributed.scheduler.allowed-failures`` times (Dask's default 3), then the trial is failed; the
re-run starts from nothing, so its numbers are those of an uninterrupted run. If the scheduler goes
away, :class:`~optlab.studies.executor.ClusterLost` is raised with every finished trial on disk.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from optlab.record.transfer import land_run, pack_run
from optlab.studies.trial_work import STOP_TRIAL, TrialStop, run_trial, wait_for_verdict
from optlab.studies.trials import (
    STOP_POLL_S,
    ClusterLost,
    Event,
    ExecutorError,
    Outcome,
    Trial,
    TrialControl,
    default_workers,
)
from optlab.training.interrupt import StopRequest

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 30          # how long a scheduler may take to show its first worker
RESEND_STOPS_S = 1.0        # stop requests are pushed again this often (a worker that joined late)
INSTALL = 'pip install -e ".[dask]" (in optlab\'s clone)'

# A function the workers run before anything of optlab is sent to them: sent by value (it is
# compiled here, in no importable module), so it runs on a worker without optlab too.
_PROBE_SOURCE = '''
def probe():
    import hashlib, importlib, pathlib, sys
    out = {"python": sys.version.split()[0], "optlab": None, "numpy": None, "source": None}
    try:
        out["numpy"] = importlib.import_module("numpy").__version__
        optlab = importlib.import_module("optlab")
        out["optlab"] = optlab.__version__
        root = pathlib.Path(optlab.__file__).parent
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\\0" + path.read_bytes())
        out["source"] = digest.hexdigest()[:16]
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out
'''


def _probe() -> Callable[[], dict]:
    namespace: dict = {}
    exec(compile(_PROBE_SOURCE, "<optlab worker probe>", "exec"), namespace)
    return namespace["probe"]


def check_workers(here: dict, theirs: dict[str, dict]) -> list[str]:
    """What makes workers unfit for bit-identical results: one line per worker and reason."""
    problems = []
    for address, info in sorted(theirs.items()):
        if info.get("optlab") is None:
            problems.append(f"worker {address}: cannot import optlab ({info.get('error', 'not installed')}); "
                            f"install it there ({INSTALL})")
            continue
        for key, what in (("optlab", "optlab"), ("numpy", "numpy"), ("source", "optlab's source")):
            if info.get(key) != here.get(key):
                problems.append(f"worker {address}: {what} {info.get(key)} differs from this machine's "
                                f"{here.get(key)}; results would not be bit-identical")
    return problems


@contextmanager
def connect(scheduler: str | None, workers: int | None) -> Iterator[DaskExecutor]:
    """A checked Dask executor on ``scheduler`` (``tcp://HOST:PORT``) or on a new LocalCluster."""
    try:
        import distributed
    except ImportError:
        raise ExecutorError(f"--executor dask needs Dask's distributed scheduler: {INSTALL}") from None
    import logging
    import warnings

    cluster = None
    try:
        if scheduler is None:
            with warnings.catch_warnings():   # its HTTP server moving off a busy port is no news to the user
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                cluster = distributed.LocalCluster(
                    n_workers=workers or default_workers(), threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR)
            address = cluster.scheduler_address
        else:
            address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
            identify(address)                 # a Dask scheduler answers there, within CONNECT_TIMEOUT_S
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except Exception as exc:
            raise ExecutorError(f"cannot reach a Dask scheduler at {address} ({type(exc).__name__}: {exc}); "
                                "is `dask scheduler` running there, and is this its address?") from None
        quiet = logging.getLogger("distributed.client")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)   # a lost scheduler is reported once, as ClusterLost, not as its traceback
        try:
            _check(client, address)
            yield DaskExecutor(client)
        finally:
            quiet.setLevel(level)
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def identify(address: str, timeout: float | None = None) -> None:
    """ExecutorError (exit 2) unless a Dask scheduler answers at ``address`` within ``timeout``
    seconds, said before a ``Client`` exists (a Client on a silent listener or a web server waits
    forever, and one on a malformed address leaves a traceback when it is collected). Tries, in
    order: the address's form (``SCHEME://HOST:PORT``), TLS settings for ``tls://``, a connection,
    then Dask's ``identity`` request, whose answer must say ``Scheduler``."""
    import asyncio
    import threading

    from distributed.comm import connect as dask_connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    tried = f"--scheduler {address}"
    unreachable = f"cannot reach a Dask scheduler at {address}"
    try:
        scheme, where = parse_address(address, strict=True)
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(where)
    except (ValueError, TypeError) as exc:
        raise ExecutorError(f"{tried}: not a scheduler address ({exc}); give tcp://HOST:PORT, e.g. "
                            "tcp://127.0.0.1:8786") from None
    security = Security()
    if scheme in ("tls", "wss") and not (security.tls_ca_file and security.tls_client_cert):
        raise ExecutorError(f"{tried}: {scheme}:// needs TLS certificates, and Dask's configuration names none "
                            "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key); set them, "
                            "or use tcp://")
    answer: dict = {}

    async def ask() -> None:
        comm = await dask_connect(address, timeout=timeout, **security.get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            answer["reply"] = await comm.read()
        finally:
            comm.abort()

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as exc:                   # reported below, in the caller's thread
            answer["error"] = exc

    thread = threading.Thread(target=run, name="optlab-scheduler-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)                           # wait_for ends it at ``timeout``; the margin is its cleanup
    error, reply = answer.get("error"), answer.get("reply")
    if thread.is_alive() or isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        raise ExecutorError(f"{unreachable}: no Dask answer within {timeout:g} s (nothing there, a firewall, "
                            "or a service that is not Dask's on that port); is `dask scheduler` running there, and "
                            "is this its address?")
    if error is not None:
        why = " ".join(str(error).split())[:200] or type(error).__name__
        if isinstance(error, (MemoryError, OverflowError, ValueError, TypeError)):   # bytes that are not Dask's frames
            why = "something answered, but not in Dask's protocol (a web server, another service)"
        else:
            why = f"{type(error).__name__}: {why}"
        raise ExecutorError(f"{unreachable} ({why}); is `dask scheduler` running there, and is this its address?")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise ExecutorError(f"{unreachable}: it answered as {kind!r}, not as a Dask scheduler (a worker's or a "
                            "nanny's address?); give the scheduler's, usually port 8786")


def _check(client, address: str) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except Exception:
        raise ExecutorError(f"the Dask scheduler at {address} has no workers; start some: "
                            f"dask worker {address} --nthreads 1") from None
    probe = _probe()
    here = probe()
    problems = check_workers(here, client.run(probe))
    if problems:
        raise ExecutorError("workers unfit for this study:\n  " + "\n  ".join(problems))


class DaskExecutor:
    kind = "dask"

    def __init__(self, client) -> None:
        self.client = client

    def slots(self, n_trials: int | None) -> int:
        """Trials at once: the cluster's threads, at most one per trial (``None``: as many as will come)."""
        threads = sum(self.client.nthreads().values())
        return max(1, threads if n_trials is None else min(n_trials, threads))

    def map(self, trials: list[Trial] | Iterator[Trial], root: Path, *, command: list[str],
            report: Callable[[list[Event]], None], stop: StopRequest, control: TrialControl,
            prepare: Callable[[], None] | None, verdicts: bool = False) -> Iterator[Outcome]:
        """A list is submitted at once (the scheduler queues it); an iterator as many trials as the
        cluster has threads, the next when one ends (asked for then: workers that joined count)."""
        import queue
        import threading
        import time

        client, token = self.client, uuid.uuid4().hex[:12]
        topic = f"optlab-events-{token}"
        trial_of: dict = {}      # future -> its trial, until its outcome is yielded
        finished: queue.SimpleQueue = queue.SimpleQueue()   # futures as they end (their callbacks' thread)
        judged: dict[int, int] = {}                          # trial index -> the last evaluation step judged
        lock = threading.Lock()

        def delivered(event) -> None:   # on the client's event loop: no call back into the cluster from here
            events = [Event(*item) for item in event[1]]
            report(events)
            rows = [e for e in events if e.row is not None]
            if verdicts and rows:
                with lock:
                    for e in rows:
                        judged[e.index] = max(judged.get(e.index, 0), e.step)
                finished.put(None)       # wakes the loop below, which pushes the verdict

        client.subscribe_topic(topic, delivered)
        listed = isinstance(trials, list)
        source = iter(trials)
        width = self.slots(None)

        def room() -> bool:
            """Whether an iterator's next trial has a thread (the cluster asked again: workers come and go)."""
            nonlocal width
            try:
                width = self.slots(None)
            except Exception:   # the count as last seen; a lost cluster is noticed by the loop below
                pass
            return len(trial_of) < width

        def submit_next() -> bool:
            t = next(source, None)
            if t is None:
                return False
            files = pack_run(root / t.dir_name) if t.resume else None
            future = client.submit(_task, t.config.model_dump(), t.dir_name, t.index, command, files, token, verdicts,
                                   key=f"optlab-trial-{token}-{t.index}", pure=False)
            trial_of[future] = t
            future.add_done_callback(finished.put)
            return True

        try:
            while (listed or room()) and submit_next():
                pass
            if prepare is not None:
                prepare()
            sent, sent_at = None, 0.0
            while trial_of:
                with lock:
                    wanted = (stop.signum, tuple(sorted(control.requested())), tuple(sorted(judged.items())))
                if wanted != (None, (), ()) and (wanted != sent or time.monotonic() - sent_at > RESEND_STOPS_S):
                    self._push(token, *wanted)
                    sent, sent_at = wanted, time.monotonic()
                try:
                    future = finished.get(timeout=STOP_POLL_S)
                except queue.Empty:
                    if client.status not in ("running", "connecting"):
                        raise ClusterLost(f"lost the Dask cluster (client {client.status})") from None
                    continue
                if future in trial_of:
                    yield self._land(future, trial_of.pop(future), root)   # handled by the caller first
                    while not listed and stop.signum is None and room() and submit_next():
                        pass
        finally:
            for future in trial_of:
                if not future.done():
                    future.cancel()
            try:
                client.unsubscribe_topic(topic)
                if stop.signum is not None or control.requested() or judged:
                    client.run(_forget_stops, token)
            except Exception:   # a cluster gone: nothing left there to tidy
                pass

    def _push(self, token: str, signum: int | None, indices: tuple[int, ...],
              judged: tuple[tuple[int, int], ...] = ()) -> None:
        try:
            self.client.run(_set_stops, token, signum, list(indices), [list(pair) for pair in judged])
        except Exception:
            pass   # a worker that left meanwhile; the next push reaches the rest

    def _land(self, future, t: Trial, root: Path) -> Outcome:
        from distributed.client import FutureCancelledError

        status = future.status
        if status == "finished":
            result = future.result()
            if result["files"]:
                land_run(root / t.dir_name, result["files"])
            return Outcome(*result["outcome"])
        if status == "error":
            exc = future.exception()
            name = type(exc).__name__
            if name == "KilledWorker":
                return Outcome(t.index, t.dir_name, "failed", f"the workers running it died too often ({exc})")
            return Outcome(t.index, t.dir_name, "failed", f"{name}: {exc}")
        try:
            future.result(timeout=1)
        except FutureCancelledError as exc:
            reason = str(exc).replace("\n", " ")
            raise ClusterLost(f"lost the Dask scheduler while trial {t.dir_name} ran ({reason})") from None
        except Exception as exc:
            raise ClusterLost(f"lost trial {t.dir_name} ({type(exc).__name__}: {exc})") from None
        raise ClusterLost(f"trial {t.dir_name} ended {status}")


# ------------------------------------------------------------------------------------------------
# on the workers
# ------------------------------------------------------------------------------------------------
_STOPS: dict[str, tuple] = {}   # token -> (study signal, trials to stop, {trial: last evaluation step judged})


def _set_stops(token: str, signum: int | None, indices: list[int], judged: list | None = None) -> None:
    _STOPS[token] = (signum, frozenset(indices), {int(i): int(step) for i, step in judged or []})


def _forget_stops(token: str) -> None:
    _STOPS.pop(token, None)


def _task(config: dict, dir_name: str, index: int, command: list[str], files: dict | None, token: str,
          verdicts: bool = False) -> dict:
    """One trial on a worker, in a scratch directory; its finished run directory as bytes."""
    from distributed import get_worker
    from threadpoolctl import threadpool_limits

    worker = get_worker()
    topic = f"optlab-events-{token}"

    def read() -> int | None:
        signum, indices, _ = _STOPS.get(token, (None, frozenset(), {}))
        return signum if signum is not None else (STOP_TRIAL if index in indices else None)

    def judged() -> int:
        return _STOPS.get(token, (None, frozenset(), {}))[2].get(index, 0)

    def send(events: list[Event]) -> None:
        worker.log_event(topic, [[e.index, e.step, e.total, _plain(e.row)] for e in events])

    scratch = Path(tempfile.mkdtemp(prefix="optlab-trial-", dir=worker.local_directory))
    try:
        if files is not None:
            land_run(scratch / dir_name, files)
        stop = TrialStop(read)
        verdict = (lambda step: wait_for_verdict(judged, step, stop)) if verdicts else None
        with threadpool_limits(limits=1, user_api="blas"):   # one BLAS thread, as in the local pool
            outcome = run_trial(config, str(scratch), dir_name, index, command, files is not None, send, stop,
                                verdict)
        out = scratch / dir_name
        return {"outcome": [outcome.index, outcome.dir_name, outcome.status, outcome.error],
                "files": pack_run(out) if out.is_dir() and outcome.status != "not started" else {}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _plain(row: dict | None) -> dict | None:
    """A metrics row as plain Python numbers (the events are msgpack)."""
    return None if row is None else {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
