"""An office reads what each `mpx` command and option does in Chinese beside English."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import typer

from exchange.entrypoints.cli import app
from tests.newcomer.conftest import has_chinese


def commands(group: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        found.append(((*path, name), command))
        if hasattr(command, "commands"):
            found += commands(command, (*path, name))
    return found


def test_every_command_and_option_says_what_it_does_in_both_languages():
    root = typer.main.get_command(app)
    every = commands(root)
    assert len(every) >= 15
    for path, command in every:
        assert has_chinese(command.help or "") and re.search(r"[A-Za-z]{4}", command.help or ""), path
        for param in command.params:
            if param.name == "help":
                continue
            text = getattr(param, "help", None) or ""
            assert has_chinese(text) and re.search(r"[A-Za-z]{4}", text), (path, param.name)


def test_the_help_as_printed():
    out = subprocess.run([sys.executable, "-m", "exchange.entrypoints.cli", "example", "--help"], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "250"}).stdout
    assert "打印一条完整有效的报文" in out and "complete, valid message" in out
