"""``BenchConfig.from_env``: the default systems (ClassifyStream among them), and the opt-in V2 systems and
extras, which the default run never measures."""

from __future__ import annotations

import pytest

from loadtest.bench import extras
from loadtest.bench.runner import SYSTEMS, BenchConfig


def test_default_run_measures_the_table_systems_only() -> None:
    config = BenchConfig.from_env({})

    assert config.systems == SYSTEMS
    assert "gateway-stream" in config.systems
    assert not any(s in config.systems for s in ("gateway-auth", "gateway-tracing", "gateway-predlog"))


def test_extras_are_added_by_name_or_all() -> None:
    named = BenchConfig.from_env({"BENCH_EXTRAS": "tracing, auth", "BENCH_SYSTEMS": "gateway-rest"})
    every = BenchConfig.from_env({"BENCH_EXTRAS": "all", "BENCH_SYSTEMS": "gateway-rest"})

    assert named.systems == ("gateway-rest", "gateway-auth", "gateway-tracing")
    assert every.systems == ("gateway-rest", "gateway-auth", "gateway-tracing", "gateway-predlog")


def test_an_unknown_extra_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown \\['tls'\\]; choose from auth, tracing, predlog"):
        BenchConfig.from_env({"BENCH_EXTRAS": "tls"})


def test_chosen_keeps_the_fixed_order() -> None:
    assert extras.chosen("predlog,auth") == ("auth", "predlog")
    assert extras.chosen("") == ()


def test_gateway_workers_are_opt_in() -> None:
    assert BenchConfig.from_env({}).workers == 1
    assert BenchConfig.from_env({"BENCH_WORKERS": "2"}).workers == 2
    with pytest.raises(ValueError, match="BENCH_WORKERS must be 1 or more"):
        BenchConfig.from_env({"BENCH_WORKERS": "0"})
