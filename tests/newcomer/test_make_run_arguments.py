"""Every `make run` the README and the Makefile show runs what it says: SIMULATE=1 adds the simulator, ARGS are
passed on beside it (an ARGS on the command line used to replace the simulator). Checked with `make -n`, and the
resulting arguments parsed by the real `mpx run`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import typer

from exchange.entrypoints.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: `make run` and the variables given after it, as the docs write them.
DOCUMENTED = re.compile(r"make run((?: [A-Z]+=(?:\"[^\"]*\"|[^\s`]+))*)")


def dry_run(*variables: str, env: dict[str, str] | None = None) -> list[str]:
    """The arguments `make run` would give `mpx run`."""
    out = subprocess.run(["make", "-n", "run", *variables], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=env).stdout
    [line] = [line for line in out.splitlines() if "/mpx run" in line]
    return shlex.split(line.split("/mpx run", 1)[1])


def run_parameters(args: list[str]) -> dict:
    return typer.main.get_command(app).commands["run"].make_context("run", list(args)).params


def documented_combinations() -> set[tuple[str, ...]]:
    text = (ROOT / "README.md").read_text() + (ROOT / "Makefile").read_text()
    found = {tuple(shlex.split(m.group(1))) for m in DOCUMENTED.finditer(text)}
    return {tuple(v for v in variables if not v.startswith("[")) for variables in found}


def test_every_documented_make_run_does_what_it_says():
    combinations = documented_combinations()
    assert {(), ("SIMULATE=1",), ("SIMULATE=1", "ARGS=--rate 20 --duration 60")} <= combinations, combinations
    for variables in combinations:
        given = dict(v.split("=", 1) for v in variables)
        args = dry_run(*variables)
        expected = (["--simulate"] if given.get("SIMULATE") == "1" else []) + shlex.split(given.get("ARGS", ""))
        assert args == expected, (variables, args)
        params = run_parameters(args)
        assert params["simulate"] is (given.get("SIMULATE") == "1"), variables


def test_the_simulator_with_its_rate_and_duration():
    params = run_parameters(dry_run("SIMULATE=1", "ARGS=--rate 20 --duration 60"))
    assert (params["simulate"], params["rate"], params["duration"]) == (True, 20.0, 60.0)


def test_arguments_alone_and_simulate_switched_off():
    assert dry_run("ARGS=--duration 60") == ["--duration", "60"]
    assert dry_run("SIMULATE=0") == [] and dry_run("SIMULATE=") == []
    assert dry_run() == []


def test_simulate_from_the_environment_too():
    import os

    assert dry_run("ARGS=--rate 3", env={**os.environ, "SIMULATE": "1"}) == ["--simulate", "--rate", "3"]
