"""How an Optuna sweep (optlab.studies.tune) runs its trials: ask the study, train the trial with
the executor, tell the study how it ended; in one of two orders.

- **Waves** (the default). As many trials as the executor has slots are asked together, and the
  next wave is asked once the whole wave has been told. With one worker the sweep is sequential;
  with N workers the same command gives the same proposals and numbers again, for the same N.
  The price: a wave waits for its longest trial, so a worker whose trial ended (or was pruned)
  idles until then.
- **Asynchronous** (``--async``). A trial is asked the moment a slot is free, after the study has
  been told the outcome that freed it (the executor takes the next trial from an iterator only
  then: optlab.studies.executor.stream_trials). No worker waits, which is what ASHA is designed
  for (Li et al. 2020, "A system for massively parallel hyperparameter tuning"). But the order of
  the tells, and so the sampler's proposals, depend on which trial ends first: each trial still
  computes exactly its own numbers, but the sweep as a whole may propose other values when run
  again. With one worker both orders are the same sequence.

Both first continue the trials an interruption left running (optlab.studies.resume), as the same
Optuna trials. A trial pruned on the driver (optlab.studies.optuna_parts.Pruning) stops after its
step and is marked ``pruned`` in its run directory and in sweep.json.
"""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path
from typing import Iterator

from optlab.config.loading import ConfigError
from optlab.record.rundir import RunDir
from optlab.studies import optuna_parts as parts
from optlab.studies import source
from optlab.studies.executor import Outcome, Progress, Trial, TrialControl, reported, run_trials, stream_trials
from optlab.studies.resume import plan_trials
from optlab.studies.sweep import STUDY as SWEEP
from optlab.studies.sweep import trial_dir, trial_overrides

MANIFEST = SWEEP.manifest   # an Optuna sweep's manifest is a sweep's: optlab.studies.tune.TuneStudy


def mark_pruned(path: Path, step: int, pruner: str) -> None:
    """The run stopped at the sweep's request (meta.json: interrupted, stop_trial): say why."""
    rd = RunDir(path)
    rd.finish("pruned", pruned_at=step, note=f"the sweep's {pruner} pruner stopped it after its evaluation at step "
                                             f"{step}; optlab train --resume trains it to full length")
    summary = rd.read_json("summary.json")
    summary.update(status="pruned", pruned_at=step)
    rd.write_json("summary.json", summary)


def tell(study, trial, status: str, path: Path) -> str:
    """Tell the study how the trial ended (optlab.studies.tune's docstring); the status for sweep.json."""
    from optuna.trial import TrialState

    if status == "completed":
        summary = RunDir(path).read_json("summary.json")
        value = ((summary.get("accuracy") or {}).get("val") or {}).get("final")
        if value is not None and math.isfinite(value):
            study.tell(trial, float(value))
        else:
            study.tell(trial, state=TrialState.FAIL)
    elif status == "diverged":
        study.tell(trial, 0.0)              # never the best: the sampler learns to avoid it
    elif status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif status == "failed":
        study.tell(trial, state=TrialState.FAIL)
    else:                                   # interrupted, not started: left RUNNING for --resume
        return "interrupted"
    return status


class Driver:
    """The sweep's side of ask and tell: its manifest (sweep.json), the Optuna trials it asked, and
    the pruning of the running ones."""

    def __init__(self, plan, rd: RunDir, manifest: dict, study, progress: Progress) -> None:
        self.optuna = parts.import_optuna()
        self.plan, self.rd, self.manifest, self.study = plan, rd, manifest, study
        self.control = TrialControl()
        self.pruning = parts.Pruning(self.control.stop)
        self.frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
        running = self.optuna.trial.TrialState.RUNNING
        self.carry = [e for e in manifest["trials"] if e["status"] in ("running", "interrupted") and e.get("dir")
                      and self.frozen[e["number"]].state == running]
        self.width = max(plan.trials, len(manifest["trials"]))
        label = f"{plan.sampler} search" + (f", {plan.pruner} pruning" if plan.pruner != "none" else "")
        self.group = progress.add_group(label, self.width)
        self.asked: dict = {}                 # executor index -> optuna Trial
        self.failed: list[Outcome] = []

    def wanted(self) -> bool:
        """Whether the study needs more trials than it has asked for."""
        return len(self.manifest["trials"]) < self.plan.trials

    def continued(self) -> Iterator[Trial]:
        """The trials an interruption left running, each continued from its checkpoint in place."""
        while self.carry:
            entry = self.carry.pop(0)
            config = self._config(entry["values"])
            trial = self.optuna.trial.Trial(self.study, self.frozen[entry["number"]]._trial_id)
            todo, done = plan_trials(self.rd.path, [(self.group, entry["dir"], config)])
            if done:                                     # it finished before its driver could tell
                entry["status"] = tell(self.study, trial, done[0].status, self.rd.path / entry["dir"])
                continue
            yield self._watch(Trial(entry["index"], self.group, config, entry["dir"], resume=todo[0].resume), trial)

    def ask(self) -> Trial | None:
        """A new trial from the study, in sweep.json as running; None for values no config takes
        (a combination the specs' ends did not reveal: told FAIL, kept as ``invalid``)."""
        trial = self.study.ask()
        values = parts.suggest(trial, self.plan.params, None)
        index = len(self.manifest["trials"])
        try:
            config = self._config(values)
        except ConfigError as exc:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            self.manifest["trials"].append({"index": index, "dir": None, "number": trial.number, "values": values,
                                            "status": "invalid", "error": "; ".join(q.message for q in exc.problems)})
            return None
        name = trial_dir(index, self.width)
        self.manifest["trials"].append({"index": index, "dir": name, "number": trial.number, "values": values,
                                        "status": "running"})
        return self._watch(Trial(index, self.group, config, name), trial)

    def _config(self, values: dict):
        """The config of a trial with ``values``: the sweep's source.yaml (optlab.studies.source), its
        fixed words, then the values."""
        return source.trial_config(self.rd.path, self.manifest, self.plan.fixed,
                                   trial_overrides(self.plan.params, values), original=self.plan.config_path)

    def _watch(self, t: Trial, trial) -> Trial:
        self.asked[t.index] = trial
        self.pruning.watch(t.index, trial)
        return t

    def told(self, o: Outcome) -> None:
        """Tell the study how trial ``o`` ended and write sweep.json."""
        entry, status = self.manifest["trials"][o.index], o.status
        self.pruning.unwatch(o.index)
        if status == "stopped" and o.index in self.pruning.pruned_at:
            mark_pruned(self.rd.path / o.dir_name, self.pruning.pruned_at[o.index], self.plan.pruner)
            status = "pruned"
        entry["status"] = tell(self.study, self.asked[o.index], status, self.rd.path / o.dir_name)
        self.failed += [o] if o.status == "failed" else []
        self.rd.write_json(MANIFEST, self.manifest)

    def interrupted(self) -> None:
        """On Ctrl-C: the trials pruned before it stay pruned (the rest stay running, for --resume)."""
        for index, step in list(self.pruning.pruned_at.items()):
            entry = self.manifest["trials"][index]
            self.pruning.unwatch(index)
            if entry["status"] == "running":
                mark_pruned(self.rd.path / entry["dir"], step, self.plan.pruner)
                entry["status"] = tell(self.study, self.asked[index], "pruned", self.rd.path / entry["dir"])


def drive(plan, rd: RunDir, manifest: dict, study, ex, session, asynchronous: bool = False) -> list[Outcome]:
    """Ask, run and tell until the study has ``plan.trials`` trials (module docstring: waves, or
    ``asynchronous``) on the open executor ``ex``, in ``session`` (optlab.studies.study.StudySession);
    the failed trials' outcomes."""
    from optlab.record import sweep_report
    from optlab.record.figures import import_plotting

    driver = Driver(plan, rd, manifest, study, session.progress)
    run = dict(executor=ex, progress=session.progress, command=list(session.command), prepare=import_plotting,
               control=driver.control, on_event=driver.pruning.on_event if plan.pruner != "none" else None)
    with reported(rd, MANIFEST, manifest, sweep_report.render_sweep):
        try:
            if asynchronous:
                for outcome in stream_trials(_as_asked(driver), rd.path, **run):
                    driver.told(outcome)
            else:
                slots = ex.slots(plan.trials)
                while driver.carry or driver.wanted():
                    wave = list(islice(driver.continued(), slots))
                    while len(wave) < slots and driver.wanted():
                        wave += [t for t in [driver.ask()] if t is not None]
                    rd.write_json(MANIFEST, manifest)
                    for outcome in run_trials(wave, rd.path, **run) if wave else []:
                        driver.told(outcome)
        except KeyboardInterrupt:
            driver.interrupted()
            raise
    return driver.failed


def _as_asked(driver: Driver) -> Iterator[Trial]:
    """The trials to run, each asked of the study only when the executor has a slot for it."""
    yield from driver.continued()
    while driver.wanted():
        t = driver.ask()
        driver.rd.write_json(MANIFEST, driver.manifest)
        if t is not None:
            yield t
