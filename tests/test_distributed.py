"""Trials on a real Dask cluster on 127.0.0.1 (optlab.studies.dask_pool): the same numbers as the
local pool with a LocalCluster, with a worker killed mid-study, and with `dask scheduler` /
`dask worker` started as commands; clusters that must be refused before any trial starts.
Each test stops what it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY_CONFIG, run_numbers

from optlab.config.loading import load_config
from optlab.studies.dask_pool import check_workers
from optlab.studies.executor import (
    ClusterLost,
    ExecutorError,
    ExecutorSpec,
    NullProgress,
    Trial,
    open_executor,
    run_trials,
)

pytest.importorskip("distributed")

CONFIG = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 150, eval_every: 10")


def trials(tmp_path: Path, n: int = 4) -> list[Trial]:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return [Trial(i, 0, load_config(path, [f"seed={i}", f"optimizer.name={'sgd' if i % 2 else 'adam'}"]),
                  f"trials/t{i}") for i in range(n)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The trials run here, one after another (the local executor)."""
    root = tmp_path_factory.mktemp("local")
    ts = trials(root)
    outcomes = run_trials(ts, root, workers=1, progress=NullProgress(), command=["test"])
    assert {o.status for o in outcomes} == {"completed"}
    return {t.dir_name: run_numbers(root / t.dir_name) for t in ts}


def test_a_local_cluster_with_a_worker_killed_mid_study_gives_the_local_numbers(tmp_path, reference):
    killed = []
    with open_executor(ExecutorSpec("dask", workers=2)) as ex:
        pids = ex.client.run(os.getpid)

        def on_event(event) -> None:
            # a worker dies (SIGKILL: no goodbye) as the first trial reports its step-0 evaluation:
            # both workers hold a trial then, with its steps and its files still to write
            if not killed:
                killed.append(pids[sorted(pids)[0]])
                os.kill(killed[0], signal.SIGKILL)

        outcomes = run_trials(trials(tmp_path), tmp_path, executor=ex, progress=NullProgress(), command=["test"],
                              on_event=on_event)
    assert killed
    assert [o.status for o in outcomes] == ["completed"] * 4
    for name, expected in reference.items():
        assert run_numbers(tmp_path / name) == expected, name
        assert not (tmp_path / name / "loss.png").exists(), "figures are the study's to draw, after its own"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"dask scheduler did not listen on {port}")


def test_dask_scheduler_and_worker_commands_give_the_local_numbers(tmp_path, reference):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MPLBACKEND": "Agg"}
    procs = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_listening(port)   # the command takes seconds to start on a busy machine
        for _ in range(2):
            procs.append(subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--host",
                                           "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path / "w")],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as client:   # both workers in, whatever the machine's load
            client.wait_for_workers(2, timeout=120)
        with open_executor(ExecutorSpec("dask", scheduler=address)) as ex:
            outcomes = run_trials(trials(tmp_path), tmp_path / "study", executor=ex, progress=NullProgress(),
                                  command=["test"])
        assert [o.status for o in outcomes] == ["completed"] * 4
        for name, expected in reference.items():
            assert run_numbers(tmp_path / "study" / name) == expected, name

        # then the scheduler goes away mid-study: ClusterLost, and what finished is on disk
        short, long = trials(tmp_path, 2)
        long = Trial(1, 0, load_config(tmp_path / "tiny.yaml", ["train.iterations=100000"]), "trials/long")
        landed = tmp_path / "lost" / short.dir_name / "meta.json"

        def on_event(event) -> None:   # once the short trial is on the driver's disk
            if event.index == 1 and landed.exists() and procs[0].poll() is None:
                procs[0].kill()

        with open_executor(ExecutorSpec("dask", scheduler=address)) as ex:
            with pytest.raises(ClusterLost, match="lost"):
                run_trials([short, long], tmp_path / "lost", executor=ex, progress=NullProgress(),
                           command=["test"], on_event=on_event)
        assert run_numbers(tmp_path / "lost" / short.dir_name) == reference[short.dir_name]
        assert not (tmp_path / "lost" / "trials" / "long").exists()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_an_address_without_a_dask_scheduler_is_refused(monkeypatch):
    monkeypatch.setattr("optlab.studies.dask_pool.CONNECT_TIMEOUT_S", 2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def answer_nonsense() -> None:   # something else listens there: it talks HTTP, then hangs up
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer_nonsense, daemon=True)
    thread.start()
    try:
        for address in (f"tcp://127.0.0.1:{server.getsockname()[1]}", f"tcp://127.0.0.1:{_free_port()}"):
            with pytest.raises(ExecutorError, match="cannot reach a Dask scheduler"):
                with open_executor(ExecutorSpec("dask", scheduler=address)):
                    pass
    finally:
        stop.set()
        thread.join()
        server.close()


def test_workers_without_optlab_or_with_another_version_are_refused():
    here = {"optlab": "0.1.0", "numpy": "2.0.0", "source": "abc"}
    assert check_workers(here, {"tcp://a": dict(here)}) == []
    missing = {"optlab": None, "error": "ModuleNotFoundError: No module named 'optlab'"}
    problems = check_workers(here, {"tcp://a": missing,
                                    "tcp://b": {**here, "numpy": "1.26.4"},
                                    "tcp://c": {**here, "source": "def"}})
    assert len(problems) == 3
    assert "cannot import optlab" in problems[0] and 'pip install -e ".[dask]"' in problems[0]
    assert "numpy 1.26.4 differs" in problems[1] and "bit-identical" in problems[1]
    assert "source" in problems[2]


def test_a_real_worker_without_optlab_is_refused_before_any_trial(tmp_path):
    import logging

    from distributed import LocalCluster

    preload = tmp_path / "hide_optlab.py"
    preload.write_text("import sys\nsys.modules['optlab'] = None   # as if optlab were not installed there\n")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR, preload=[str(preload)]) as cluster:
        with pytest.raises(ExecutorError, match="cannot import optlab"):
            with open_executor(ExecutorSpec("dask", scheduler=cluster.scheduler_address)):
                pass


def test_without_the_extra_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ExecutorError, match=r"pip install -e \"\.\[dask\]\""):
        with open_executor(ExecutorSpec("dask")):
            pass
