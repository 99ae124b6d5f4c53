"""The engine: pure numpy — layers, losses, initialisers, models, optimizers, regularizers,
schedules, numerical gradients, the 2-D test surfaces and the hyper-parameter table.

It writes no files and knows no config schema and no CLI: everything arrives as arrays, plain
numbers or a ``numpy.random.Generator``, so each rule can be read (and tested) as its formula.
"""
