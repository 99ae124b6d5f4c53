"""One run: build it from a config (setup), train it (the gradient loop, the random and local
searches, the surface descent: one entry per kind of run in optlab.training.kinds), checkpoint
and resume it, and record what it did.

Uses the engine, data and config below it and writes through optlab.record; knows nothing of
comparisons or sweeps, which call :func:`optlab.training.run.run` once per trial.
"""
