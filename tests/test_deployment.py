"""The deployment files run only commands that exist.

docker-compose.yml, the Dockerfile and the Makefile call `coalition ...`. A renamed
command or option would break them only on the day someone deploys, so these tests
parse the files and resolve every call against the real CLI with typer's own parser
(unknown subcommands, unknown options, bad values and missing arguments all fail).
"""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.core import TyperGroup

from app.cli import cli
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHELL_PREFIXES = {"exec", "then", "else", "do", "{", "!"}
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}


class UnknownCommand(Exception):
    pass


def resolve(argv: list[str]) -> tuple[str, ...]:
    """Parse `coalition ARGV...` as the CLI would; return the subcommand path."""
    command = typer.main.get_command(cli)
    path: list[str] = []
    args = list(argv)
    while isinstance(command, TyperGroup):
        if not args or args[0].startswith("-"):
            raise UnknownCommand(f"`coalition {' '.join(path)}` needs a subcommand")
        name = args.pop(0)
        subcommand = command.get_command(typer.Context(command), name)
        if subcommand is None:
            raise UnknownCommand(f"`coalition {' '.join([*path, name])}` does not exist")
        command = subcommand
        path.append(name)
    try:
        command.make_context(f"coalition {' '.join(path)}", args)
    except typer.TyperException as error:  # typer's parser: usage errors, bad values
        raise UnknownCommand(f"`coalition {shlex.join(argv)}`: {error}") from error
    return tuple(path)


def coalition_calls(shell: str) -> list[list[str]]:
    """The argument lists of every `coalition` program call in a shell command line."""
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(lexer.punctuation_chars):  # && || ; | ( ) < >
            segments.append([])
        else:
            segments[-1].append(token)
    calls = []
    for tokens in segments:
        # Skip shell keywords and leading VAR=value assignments before the program.
        while tokens and (tokens[0] in SHELL_PREFIXES or re.match(r"^[A-Za-z_]\w*=", tokens[0])):
            tokens.pop(0)
        if tokens and Path(tokens[0]).name == "coalition":
            calls.append(tokens[1:])
    return calls


def calls_in_argv(argv: str | list[str] | None) -> list[list[str]]:
    """Calls in a compose `command`/`entrypoint`/healthcheck or a Dockerfile exec form."""
    if argv is None:
        return []
    if isinstance(argv, str):
        return coalition_calls(argv)
    argv = [str(item) for item in argv]
    if argv and argv[0] in {"CMD", "CMD-SHELL"}:
        argv = argv[1:] if argv[0] == "CMD" else [" ".join(argv[1:])]
        if len(argv) == 1:
            return coalition_calls(argv[0])
    if len(argv) >= 3 and argv[0] in SHELLS and argv[1] == "-c":
        return coalition_calls(argv[2])
    if argv and Path(argv[0]).name == "coalition":
        return [argv[1:]]
    return []


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def service_calls(service: dict[str, Any]) -> list[list[str]]:
    calls = calls_in_argv(service.get("entrypoint")) + calls_in_argv(service.get("command"))
    return calls + calls_in_argv((service.get("healthcheck") or {}).get("test"))


def test_every_coalition_command_in_compose_exists(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for call in service_calls(service):
            try:
                resolve(call)
            except UnknownCommand as error:
                pytest.fail(f"service {name!r}: {error}")
            checked += 1
    assert checked, "no service runs a coalition command: the parser found nothing"


def test_api_migrates_and_loads_countries_before_serving(compose: dict[str, Any]) -> None:
    paths = [resolve(call) for call in service_calls(compose["services"]["api"])]
    assert paths == [("db", "upgrade"), ("countries", "load"), ("serve",)]


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test"), f"service {name!r} has no healthcheck"
        assert not healthcheck.get("disable"), f"service {name!r} disables its healthcheck"


def test_api_is_configured_through_the_environment(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    environment = api["environment"]
    assert isinstance(environment, dict)
    required = {"DATABASE_URL", "REDIS_URL", "SMTP_URL", "PUBLIC_BASE_URL", "SECRET_KEY"}
    assert required <= environment.keys()
    settings_names = {name.upper() for name in Settings.model_fields}
    assert environment.keys() <= settings_names, "compose sets variables the app never reads"
    assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["REDIS_URL"].startswith("redis://redis:")
    # No usable default for the secret: compose refuses to start without one.
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", environment["SECRET_KEY"])
    assert "DEMO_MODE" not in environment


def test_api_waits_for_healthy_services(compose: dict[str, Any]) -> None:
    depends_on = compose["services"]["api"]["depends_on"]
    for service in ("postgres", "redis"):
        assert depends_on[service]["condition"] == "service_healthy"


def test_dockerfile_command_exists() -> None:
    commands = [
        json.loads(line.removeprefix("CMD").strip())
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD")
    ]
    assert commands, "the Dockerfile has no exec-form CMD"
    for command in commands:
        for call in calls_in_argv(command):
            resolve(call)


def makefile_recipes() -> dict[str, list[str]]:
    """Each target's recipe lines, with `$(VARIABLE)`s expanded from the Makefile."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    variables: dict[str, str] = {}
    recipes: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t"):
            for target in current:
                recipes[target].append(line[1:].lstrip("@-+ "))
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.match(r"^(?:export\s+)?(\w+)\s*(?:\?=|:=|::=|=)\s*(.*)$", line)
        if assignment:
            variables[assignment[1]] = assignment[2].strip()
            current = []
            continue
        rule = re.match(r"^([^:#=]+):(?!=)(.*)$", line)
        if rule and "=" not in rule[2]:  # not a target-specific variable
            current = rule[1].split()
            for target in current:
                recipes.setdefault(target, [])
        else:
            current = []

    def expand(value: str) -> str:
        for _ in range(10):
            value = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], m[0]), value)
        return value.replace("$$", "$")

    return {target: [expand(line) for line in lines] for target, lines in recipes.items()}


def test_every_coalition_command_in_the_makefile_exists() -> None:
    lines = [line for recipe in makefile_recipes().values() for line in recipe]
    calls = [call for line in lines for call in coalition_calls(line)]
    assert calls, "the Makefile runs no coalition command: the parser found nothing"
    for call in calls:
        resolve(call)


def test_make_run_migrates_loads_seeds_and_serves() -> None:
    paths = [resolve(call) for line in makefile_recipes()["run"] for call in coalition_calls(line)]
    assert paths == [
        ("db", "upgrade"),
        ("countries", "load"),
        ("demo", "seed"),
        ("demo", "users"),
        ("demo", "alerts"),
        ("worker",),
        ("scheduler",),
        ("serve",),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["db", "upgrad"],
        ["db"],
        ["serve", "--hots", "0.0.0.0"],
        ["serve", "--port", "eighty"],
        ["countries", "load", "extra-argument"],
    ],
)
def test_the_checker_rejects_what_the_cli_would_reject(argv: list[str]) -> None:
    with pytest.raises(UnknownCommand):
        resolve(argv)
