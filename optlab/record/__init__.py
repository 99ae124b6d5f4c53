"""The record: the run directory (the only writer of a run's files) and everything rendered
from files alone — figures, tables and reports of runs, comparisons and sweeps — so any report
can be rebuilt later by ``optlab report`` without training.
"""
