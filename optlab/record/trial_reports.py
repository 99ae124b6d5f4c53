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

from optlab.record.run_report import render_run


def render_trial_reports(study: Path, dir_names: list[str]) -> int:
    """Draw each trial's report (best effort: a trial cut short draws what it can); how many were drawn."""
    drawn = 0
    for name in dir_names:
        path = Path(study) / name
        if (path / "metrics.csv").is_file():
            render_run(path, quiet=True)
            drawn += 1
    return drawn
