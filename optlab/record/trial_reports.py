"""The reports of a study's trials, drawn after the study's own (the one place to extend them).

A comparison or sweep trains its trials without drawing each one's figures (optlab.training.run
``render=False``): a worker that plots spends its time on matplotlib instead of the next trial,
and the study's own figures are what its user looks at first. Once those are written, the study
calls :func:`render_trial_reports` for every trial directory that exists, so each trial still
ends with the loss and accuracy figures and results.md that ``optlab train`` writes; ``optlab
report TRIAL_DIR`` (or ``optlab report STUDY_DIR``, which redraws every trial) draws them anew.
Whatever else a trial's report grows (an HTML page), it is added here.
"""

from __future__ import annotations

from pathlib import Path

from optlab.record.html_report import relink_trials
from optlab.record.run_report import render_run


def render_trial_reports(study: Path, dir_names: list[str], workers: int = 1) -> int:
    """Draw each trial's report (best effort: a trial cut short draws what it can), in ``workers``
    processes when there are several trials; how many were drawn."""
    paths = [Path(study) / name for name in dir_names if (Path(study) / name / "metrics.csv").is_file()]
    workers = max(1, min(workers, len(paths) // 2))   # a process must have two trials to be worth starting
    if workers == 1:
        for path in paths:
            render_report(path)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, as the study's pool (optlab.studies.local_pool): the caller runs threads
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(render_report, paths, chunksize=max(1, len(paths) // (4 * workers))))
    if paths:
        relink_trials(study)   # the study's page, written before, now links to these pages
    return len(paths)


def render_report(path: Path) -> None:
    """One trial's report: what ``optlab train`` draws at the end of a run."""
    render_run(path, quiet=True)
