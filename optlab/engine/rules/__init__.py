"""Optimizers of 2016-2025 beside the DLFS ch. 6 rules of optlab.engine.optimizers, one per module:
NAdam, RAdam, Lion, Schedule-Free SGD and AdamW, Muon, L-BFGS. Each is checked against its
reference implementation in float64 (tests/test_rules_reference.py); docs/optimizers.md has the
formulas, sources and defaults."""
