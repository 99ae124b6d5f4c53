"""Many runs of one experiment: comparisons of variants, hyper-parameter sweeps, and the executor
that runs their trials in worker processes. Each trial is one :func:`optlab.training.run.run`.
"""
