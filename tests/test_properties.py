"""Property-based tests (hypothesis): the override parser and config round trips.

- ``KEY=VALUE`` with any dotted key and any YAML-representable value parses back to exactly
  that key and value;
- any text at all, as an override or as a config file, gives a Config or a ConfigError — never
  another exception (which the CLI would show as a traceback);
- any valid config survives ``dump_config`` -> ``loads_config`` unchanged, so a run directory's
  config.yaml re-runs exactly the run it belongs to.
"""

from __future__ import annotations

import math

import string

import yaml
from conftest import TINY_CONFIG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optlab.config.loading import ConfigError, _Dumper, dump_config, load_config, loads_config, parse_override
from optlab.config.schema import Config
from optlab.engine.optimizers import OPTIMIZERS

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
dotted_key = st.lists(identifier, min_size=1, max_size=4).map(".".join)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), finite,
                   st.text(string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=12),
                   st.sampled_from(["1e3", "1e-3", "yes", "null", ".5", "0x1f", "[1]", "a: b"]))
yaml_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


def flow(value) -> str:
    """The value as one line of YAML, quoted where optlab's loader needs it, as a user would type it."""
    return yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


@SETTINGS
@given(dotted_key, yaml_value)
def test_override_round_trip(key, value):
    assert parse_override(f"{key}={flow(value)}") == (tuple(key.split(".")), value)


@SETTINGS
@given(st.text(max_size=40))
def test_any_override_text_is_a_value_or_a_config_error(tiny_config, text):
    try:
        load_config(tiny_config, [text])
    except ConfigError as exc:
        assert exc.problems and all(p.where == f"override {text!r}" for p in exc.problems)


@SETTINGS
@given(st.text(max_size=200))
def test_any_file_text_is_a_config_or_a_config_error(text):
    try:
        loads_config(text, "c.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.where.startswith("c.yaml") for p in exc.problems)


@SETTINGS
@given(st.lists(st.sampled_from(TINY_CONFIG.splitlines()), max_size=12), st.lists(scalar.map(flow), max_size=3))
def test_shuffled_and_corrupted_configs_never_crash(lines, junk):
    """Valid lines in any order, repeated or missing, with junk values appended."""
    text = "\n".join(lines + [f"seed: {j}" for j in junk])
    try:
        loads_config(text, "c.yaml")
    except ConfigError:
        pass


# ------------------------------------------------------------------------------------------------
# valid configs, drawn from the schema's own ranges
# ------------------------------------------------------------------------------------------------
def in_range(name: str, optimizer: str):
    h = OPTIMIZERS[optimizer].hypers[name]
    r = h.range
    high = min(r.high, 1e6)
    if h.kind is int:      # L-BFGS's history length, its line search's budget
        return st.integers(math.ceil(r.low + r.low_open), math.floor(high - (r.high_open or high < r.high)))
    return st.floats(r.low, high, exclude_min=r.low_open, exclude_max=r.high_open or high < r.high,
                     allow_nan=False, allow_infinity=False)


@st.composite
def optimizers(draw):
    name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    keys = draw(st.sets(st.sampled_from(sorted(OPTIMIZERS[name].hyper_names))))
    return {"name": name, **{k: draw(in_range(k, name)) for k in keys}}


@st.composite
def configs(draw):
    size = draw(st.integers(2, 5000))
    data = draw(st.sampled_from([
        {"name": "spiral", "size": size, "val_size": draw(st.integers(0, size - 1)),
         "noise": draw(st.floats(0, 10)), "classes": draw(st.integers(2, 10))},
        {"name": "blobs", "size": size, "val_size": draw(st.integers(0, size - 1)), "dims": draw(st.integers(1, 50)),
         "std": draw(st.floats(1e-3, 10)), "spread": draw(st.floats(1e-3, 100))},
    ]))
    init = {"name": draw(st.sampled_from(["zeros", "normal", "xavier", "he"])), "std": draw(st.floats(1e-6, 10)),
            "bias_std": draw(st.floats(0, 1))}
    model = draw(st.sampled_from([
        {"name": "mlp", "hidden": draw(st.lists(st.integers(1, 512), max_size=3)),
         "activation": draw(st.sampled_from(["relu", "sigmoid", "tanh"])), "init": init},
        {"name": "linear", "init": init},
    ]))
    length = draw(st.sampled_from([{"epochs": draw(st.floats(1e-3, 1e4))}, {"iterations": draw(st.integers(1, 10**7))}]))
    train = {"batch_size": draw(st.integers(1, 10**4)), **length,
             "eval_every": draw(st.none() | st.integers(1, 1000)),
             "dtype": draw(st.sampled_from(["float32", "float64"])),
             "sampling": draw(st.sampled_from(["shuffle", "replacement"])),
             "divergence_factor": draw(st.none() | st.floats(1.001, 1e12)),
             "checkpoint_every": draw(st.none() | st.integers(1, 10**6))}
    return Config.model_validate({
        # names a YAML 1.1 dumper would leave unquoted but optlab's loader reads as numbers or bools
        "name": draw(st.sampled_from(["run", "1e3", "1_000", "0.5", ".5", "12", "yes", "null"])
                     | st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)),
        "seed": draw(st.integers(0, 2**63)),
        "data": data, "model": model,
        "loss": draw(st.sampled_from(["hinge", "cross_entropy", "quadratic"])),
        "regularization": {"l2": draw(st.floats(0, 10)), "l1": draw(st.floats(0, 10))},
        "optimizer": draw(optimizers()),
        "train": train,
    })


@SETTINGS
@given(configs())
def test_config_round_trip(config):
    text = dump_config(config)
    assert loads_config(text) == config
    assert dump_config(loads_config(text)) == text
