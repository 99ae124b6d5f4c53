"""Configs: the schema (every key, its type, default and range), YAML loading with file:line
locations, overrides, and the generated reference (docs/config.md).
"""
