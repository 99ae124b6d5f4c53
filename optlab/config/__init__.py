"""Configs: the schema (every key, its type, default and range), YAML loading with file:line
locations, overrides, the generated reference (docs/config.md), and the kind of run a config
makes (optlab.config.kinds).
"""
