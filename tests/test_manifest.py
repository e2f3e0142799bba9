"""manifest.yml: valid against Slack's published JSON Schema (resolved offline), in step with the handlers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from handlers.ids import SLASH_COMMAND, Subcommand

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
SCHEMA_DIR = Path(
    os.environ.get("SLACK_MANIFEST_SCHEMA_DIR", ROOT / "tests" / "data" / "slack-manifest-schema")
)
EVENTS_URL = "https://<your-host>/slack/events"


def load_manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def _schema_file(name: str) -> Any:
    path = SCHEMA_DIR / name
    assert path.is_file(), f"{path} is missing: point SLACK_MANIFEST_SCHEMA_DIR at Slack's manifest schemas"
    return json.loads(path.read_text(encoding="utf-8"))


def _remote_refs(node: Any) -> set[str]:
    """Every absolute `$ref` in a schema document (the dispatcher names the versioned schemas by URL)."""
    if isinstance(node, dict):
        found = {node["$ref"]} if str(node.get("$ref", "")).startswith("https://") else set()
        return found.union(*(_remote_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_remote_refs(v) for v in node))
    return set()


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    """The dispatcher schema, its remote $refs answered by the files beside it: no network."""
    root = _schema_file("manifest.schema.json")
    local = [
        (uri, Resource.from_contents(_schema_file(uri.rsplit("/", 1)[-1]), default_specification=DRAFT7))
        for uri in sorted(_remote_refs(root))
    ]
    return Draft7Validator(root, registry=Registry().with_resources(local))


def problems(validator: Draft7Validator, manifest: dict[str, Any]) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)
    )


def test_the_manifest_is_valid_against_slacks_schema(validator: Draft7Validator) -> None:
    assert problems(validator, load_manifest()) == []


def test_the_schema_check_refuses_what_slack_would_refuse(validator: Draft7Validator) -> None:
    unknown_key = load_manifest()
    unknown_key["settings"]["interactivity"]["options_load_url"] = EVENTS_URL
    no_slash = load_manifest()
    no_slash["features"]["slash_commands"][0]["command"] = "smc"
    long_name = load_manifest()
    long_name["display_information"]["name"] = "x" * 36
    for broken in (unknown_key, no_slash, long_name):
        assert problems(validator, broken) != []


def test_the_manifest_declares_exactly_the_command_the_handlers_serve() -> None:
    commands = load_manifest()["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [SLASH_COMMAND]


def test_the_usage_hint_lists_every_subcommand() -> None:
    [command] = load_manifest()["features"]["slash_commands"]
    words = set(re.findall(r"[a-z]+", command["usage_hint"]))
    assert {s.value for s in Subcommand} <= words
    assert command["description"]


def test_commands_interactivity_options_and_events_share_one_request_url() -> None:
    manifest = load_manifest()
    settings = manifest["settings"]
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        settings["interactivity"]["request_url"],
        settings["interactivity"]["message_menu_options_url"],
        settings["event_subscriptions"]["request_url"],
    ]
    assert urls == [EVENTS_URL] * 4
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True


def test_app_home_and_the_scopes_the_bot_calls_need() -> None:
    manifest = load_manifest()
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "commands",
        "chat:write",
        "chat:write.public",
        "usergroups:read",
        "users:read",
        "files:write",
        "channels:history",
        "groups:history",
        "channels:join",
    }
