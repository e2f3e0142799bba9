"""The install scripts Cloud Assistant runs to import a source: a default per OS family, or the operator's.

The activation code travels as Cloud Assistant command parameters (`{{accessTokenId}}`,
`{{accessTokenCode}}`, `EnableParameter=true`), never inlined into the script the bot sends. The SMC
client's non-interactive flags are undocumented, so the script is a template an operator can replace
(`SMC_BOT_IMPORT_SCRIPT_LINUX` / `SMC_BOT_IMPORT_SCRIPT_WINDOWS`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.cloud.ports import CommandType, OsType, Secret

TOKEN_ID_PARAMETER = "accessTokenId"  # noqa: S105 -- a parameter name, not a secret
TOKEN_CODE_PARAMETER = "accessTokenCode"  # noqa: S105 -- a parameter name, not a secret
PARAMETERS = (TOKEN_ID_PARAMETER, TOKEN_CODE_PARAMETER)

MAX_ENCODED_BYTES = 16 * 1024
"""Cloud Assistant: the command content and its custom parameters, Base64-encoded, fit in 16 KB."""
PARAMETER_ALLOWANCE = 1024
"""Room left for the parameter values (a token id and a 32-character code) inside that limit."""

DEFAULT_FILES: Mapping[OsType, str] = {OsType.LINUX: "import_linux.sh", OsType.WINDOWS: "import_windows.ps1"}
COMMAND_TYPES: Mapping[OsType, CommandType] = {
    OsType.LINUX: CommandType.SHELL,
    OsType.WINDOWS: CommandType.POWERSHELL,
}

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True)
class InstallScript:
    """One OS family's script and the Cloud Assistant command type that runs it."""

    os_type: OsType
    command_type: CommandType
    text: str
    origin: str
    """Where the text came from: a file path, or "built-in"."""


def script_problem(text: str) -> str | None:
    """Why Cloud Assistant could not run this template with the bot's two parameters; None when it can."""
    if not text.strip():
        return "the file is empty"
    names = [m.group(1) for m in _PLACEHOLDER.finditer(text)]
    lowered = {name.lower() for name in names}
    missing = [p for p in PARAMETERS if p.lower() not in lowered]
    if missing:
        shown = " and ".join("{{" + p + "}}" for p in missing)
        return f"it does not use {shown} (the activation code's id and code reach the script only that way)"
    # Cloud Assistant fills every {{name}} from the command's parameters; built-ins start with ACS::.
    unknown = sorted({n for n in names if n.lower() not in {p.lower() for p in PARAMETERS}} - {""})
    unknown = [n for n in unknown if not n.upper().startswith("ACS::")]
    if unknown:
        allowed = " and ".join("{{" + p + "}}" for p in PARAMETERS)
        return (
            f"it uses {{{{{unknown[0]}}}}}, which the bot does not send: only {allowed} "
            "(and ACS:: built-ins) are filled in"
        )
    encoded = len(base64.b64encode(text.encode()))
    if encoded > MAX_ENCODED_BYTES - PARAMETER_ALLOWANCE:
        return (
            f"it is {len(text.encode())} bytes; Cloud Assistant takes at most about "
            f"{(MAX_ENCODED_BYTES - PARAMETER_ALLOWANCE) * 3 // 4} bytes of script"
        )
    return None


def check_script_file(path: Path) -> str | None:
    """The problem with a replacement script file (unreadable, wrong placeholders, too big), or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({type(exc).__name__})"
    return script_problem(text)


def default_text(os_type: OsType) -> str:
    """The built-in template of an OS family (package data under bot/scripts)."""
    return resources.files("bot").joinpath("scripts", DEFAULT_FILES[os_type]).read_text(encoding="utf-8")


def load_script(os_type: OsType, path: Path | None = None) -> InstallScript:
    """The operator's file when given (ValueError when unusable), else the built-in template."""
    if path is None:
        text, origin = default_text(os_type), "built-in"
    else:
        problem = check_script_file(path)
        if problem is not None:
            raise ValueError(f"the {os_type.value} install script {path} {problem}")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    return InstallScript(os_type=os_type, command_type=COMMAND_TYPES[os_type], text=text, origin=origin)


@dataclass(frozen=True)
class InstallScripts:
    """The Linux and Windows scripts the import runner sends."""

    linux: InstallScript
    windows: InstallScript

    @classmethod
    def load(cls, *, linux: Path | None = None, windows: Path | None = None) -> InstallScripts:
        return cls(linux=load_script(OsType.LINUX, linux), windows=load_script(OsType.WINDOWS, windows))

    def for_os(self, os_type: OsType) -> InstallScript:
        """Windows gets PowerShell; everything else (Linux, or an OS ECS did not report) the shell script."""
        return self.windows if os_type is OsType.WINDOWS else self.linux


def activation_parameters(token_id: str, code: Secret) -> dict[str, str | Secret]:
    """The command parameters: the code stays a Secret until the adapter puts it in the request."""
    return {TOKEN_ID_PARAMETER: token_id, TOKEN_CODE_PARAMETER: code}
