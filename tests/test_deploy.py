"""The container setup, checked by structure: `Dockerfile`, `compose.yaml` and `deploy/nginx.conf`.

Docker cannot run on this machine kind (there is no container engine), so nothing here builds an image or
starts a container (deploy/rehearse_image.py and deploy/rehearse_compose.py, run by .ci/run, execute
both files). Here each file is parsed and held to what PRODUCT §7 and issue 8 ask: a slim Python
base, a non-root user, a HEALTHCHECK on /healthz, `smc-bot` as entry point with `serve` as its command; and
for several replicas PostgreSQL with a health check, a one-shot migration, two bot replicas in HTTP mode on
PostgreSQL, and one published port through a proxy that forwards to the bot.
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(ROOT / "deploy"))
from rehearse_image import parse  # noqa: E402  (the rehearsal's own reading of the Dockerfile)

Instruction = tuple[str, str]
"""(KEYWORD, arguments) of one Dockerfile instruction."""


def final_stage() -> list[Instruction]:
    return parse(ROOT / "Dockerfile")[-1].instructions


def every_instruction() -> list[Instruction]:
    return [instruction for stage in parse(ROOT / "Dockerfile") for instruction in stage.instructions]


def exec_form(args: str) -> list[str]:
    parsed: Any = yaml.safe_load(args)  # a JSON array is YAML
    assert isinstance(parsed, list), f"{args!r} is not exec form (a JSON array)"
    return [str(a) for a in parsed]


def only(instructions: list[Instruction], keyword: str) -> str:
    found = [args for key, args in instructions if key == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# --- Dockerfile ------------------------------------------------------------------------------------


def test_every_stage_builds_on_a_slim_python_of_the_supported_version() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(p) for p in re.findall(r"\d+", requires)[:2])
    bases = [stage.base for stage in parse(ROOT / "Dockerfile")]
    assert bases, "no FROM"
    for base in bases:
        match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(-[a-z]+)?", base)
        assert match, f"{base} is not a slim Python image"
        assert (int(match[1]), int(match[2])) >= minimum


def test_the_image_runs_as_a_non_root_user_it_creates() -> None:
    stage = final_stage()
    user = only(stage, "USER").split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(args for key, args in stage if key == "RUN")
    assert re.search(rf"(useradd|adduser)\b.*\b{re.escape(user)}\b", created), f"{user} is never created"
    keywords = [key for key, _ in stage]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")


def test_the_health_check_asks_healthz_on_port() -> None:
    stage = final_stage()
    check = only(stage, "HEALTHCHECK")
    options, _, command = check.partition("CMD")
    assert command, "HEALTHCHECK has no CMD"
    assert "/healthz" in command and "PORT" in command
    assert "--interval=" in options and "--timeout=" in options
    env = " ".join(args for key, args in stage if key == "ENV")
    port = re.search(r"\bPORT=(\d+)", env)
    assert port is not None, "the image sets no default PORT"
    assert port[1] in only(stage, "EXPOSE").split()


def test_smc_bot_is_the_entry_point_and_serve_the_command() -> None:
    stage = final_stage()
    assert exec_form(only(stage, "ENTRYPOINT")) == ["smc-bot"]
    assert exec_form(only(stage, "CMD")) == ["serve"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["smc-bot"] == "bot.__main__:main"


def test_the_build_copies_every_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    sources = {
        source.rstrip("/")
        for key, args in every_instruction()
        if key == "COPY" and "--from" not in args
        for source in shlex.split(args)[:-1]
    }
    assert packages | {"pyproject.toml", project["project"]["readme"]} <= sources


# --- compose.yaml ----------------------------------------------------------------------------------


def test_postgresql_runs_with_a_health_check(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    assert str(postgres["image"]).startswith("postgres:")
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))


def test_the_schema_is_migrated_once_after_postgresql_is_healthy(compose: dict[str, Any]) -> None:
    migrate = services(compose)["migrate"]
    assert migrate["build"] == "."
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in migrate and "deploy" not in migrate


def test_two_bot_replicas_serve_http_on_postgresql_after_the_migration(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    bot = all_services["bot"]
    assert bot["build"] == "."
    assert bot.get("command", ["serve"]) == ["serve"]
    assert bot["deploy"]["replicas"] == 2
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = env_of(bot)
    assert "SLACK_APP_TOKEN" not in env, "several replicas run in HTTP mode, not Socket Mode"
    assert "SLACK_SIGNING_SECRET" in env and "SLACK_BOT_TOKEN" in env
    url = make_url(env["DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg" and url.host == "postgres"
    postgres = env_of(all_services["postgres"])
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert env_of(all_services["migrate"])["DATABASE_URL"] == env["DATABASE_URL"]
    assert "ports" not in bot, "replicas are reached through the proxy, not published themselves"


def test_one_published_port_goes_through_the_proxy_to_the_bot(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in services(compose).items() if s.get("ports")}
    assert list(published) == ["proxy"]
    [mapping] = published["proxy"]
    host_port, container_port = str(mapping).split(":")[-2:]
    proxy = services(compose)["proxy"]
    assert str(proxy["image"]).startswith("nginx:")
    [volume] = proxy["volumes"]
    source, target = str(volume).split(":")[:2]
    assert (ROOT / source).resolve() == ROOT / "deploy" / "nginx.conf"
    assert target.startswith("/etc/nginx/")
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(rf"^\s*listen\s+{container_port}\s*;", conf, re.M), "nginx listens elsewhere"
    bot_port = env_of(services(compose)["bot"])["PORT"]
    upstream = re.search(r"http://bot:(\d+)", conf)
    assert upstream is not None and upstream[1] == bot_port, "nginx does not forward to the bot's PORT"
    assert re.search(r"^\s*proxy_pass\s+\$?\w*", conf, re.M)
    assert host_port.isdigit()
    assert "bot" in proxy["depends_on"]
