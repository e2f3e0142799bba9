"""One Settings object read from the environment; secrets stay SecretStr and never print."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.import_script import check_script_file

DEFAULT_DATABASE_URL = "sqlite:///./smc-bot.db"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """Every variable of PRODUCT §7; names are the environment variable names."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: AnyHttpUrl | None = Field(default=None, validation_alias="SLACK_API_URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    alibaba_cloud_access_key_id: str | None = Field(
        default=None, validation_alias="ALIBABA_CLOUD_ACCESS_KEY_ID"
    )
    alibaba_cloud_access_key_secret: SecretStr | None = Field(
        default=None, validation_alias="ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    )
    cloud_endpoint: AnyHttpUrl | None = Field(default=None, validation_alias="SMC_BOT_CLOUD_ENDPOINT")
    poll_seconds: int = Field(default=30, ge=5, le=3600, validation_alias="SMC_BOT_POLL_SECONDS")
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="PORT")
    log_level: LogLevel = Field(default=LogLevel.INFO, validation_alias="SMC_BOT_LOG_LEVEL")
    log_format: LogFormat = Field(default=LogFormat.TEXT, validation_alias="SMC_BOT_LOG_FORMAT")
    import_poll_seconds: int = Field(default=20, ge=1, le=300, validation_alias="SMC_BOT_IMPORT_POLL_SECONDS")
    import_timeout_minutes: int = Field(
        default=15, ge=1, le=240, validation_alias="SMC_BOT_IMPORT_TIMEOUT_MINUTES"
    )
    import_script_linux: Path | None = Field(default=None, validation_alias="SMC_BOT_IMPORT_SCRIPT_LINUX")
    import_script_windows: Path | None = Field(default=None, validation_alias="SMC_BOT_IMPORT_SCRIPT_WINDOWS")

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a database URL") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"uses the unsupported backend {url.get_backend_name()!r}")
        return value

    @field_validator("import_script_linux", "import_script_windows")
    @classmethod
    def _usable_script(cls, value: Path | None) -> Path | None:
        problem = check_script_file(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def require(self, *names: str) -> None:
        """Raise ConfigError for each named variable that a command needs but is not set."""
        missing = [n for n in names if getattr(self, _field_for(n)) is None]
        if missing:
            raise ConfigError("\n".join(f"{n} is not set: {_FIXES[n]}." for n in missing))

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def describe(self) -> list[tuple[str, str]]:
        """What the bot sees, for `smc-bot check`; secrets only as set / not set."""

        def secret(value: SecretStr | None) -> str:
            return "set" if value is not None else "not set"

        return [
            ("SLACK_BOT_TOKEN", secret(self.slack_bot_token)),
            ("SLACK_SIGNING_SECRET", secret(self.slack_signing_secret)),
            (
                "SLACK_APP_TOKEN",
                secret(self.slack_app_token) + (" (Socket Mode)" if self.socket_mode else ""),
            ),
            ("SLACK_API_URL", str(self.slack_api_url) if self.slack_api_url else "Slack's default"),
            ("DATABASE_URL", make_url(self.database_url).render_as_string(hide_password=True)),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                self.alibaba_cloud_access_key_id or "not set (SDK credential chain)",
            ),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret(self.alibaba_cloud_access_key_secret)),
            ("SMC_BOT_CLOUD_ENDPOINT", str(self.cloud_endpoint) if self.cloud_endpoint else "Alibaba Cloud"),
            ("SMC_BOT_POLL_SECONDS", str(self.poll_seconds)),
            ("PORT", str(self.port)),
            ("SMC_BOT_LOG_LEVEL", self.log_level.value),
            ("SMC_BOT_LOG_FORMAT", self.log_format.value),
            ("SMC_BOT_IMPORT_POLL_SECONDS", str(self.import_poll_seconds)),
            ("SMC_BOT_IMPORT_TIMEOUT_MINUTES", str(self.import_timeout_minutes)),
            ("SMC_BOT_IMPORT_SCRIPT_LINUX", str(self.import_script_linux or "built-in")),
            ("SMC_BOT_IMPORT_SCRIPT_WINDOWS", str(self.import_script_windows or "built-in")),
        ]


_FIXES: Mapping[str, str] = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from the app's Basic Information page",
    "SLACK_APP_TOKEN": "create an app-level token with connections:write (xapp-…) or unset it for HTTP mode",
    "SLACK_API_URL": "set a full URL such as http://127.0.0.1:8900/api/ or unset it",
    "DATABASE_URL": "use sqlite:///./smc-bot.db or postgresql+psycopg://user@host:5432/dbname",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "set the destination account RAM user's AccessKey ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "set the AccessKey secret that belongs to the AccessKey ID",
    "SMC_BOT_CLOUD_ENDPOINT": "set http://host:port of `smc-bot simulate`, or unset it for Alibaba Cloud",
    "SMC_BOT_POLL_SECONDS": "set a whole number of seconds between 5 and 3600 (default 30)",
    "PORT": "set a TCP port between 1 and 65535 (default 3000)",
    "SMC_BOT_LOG_LEVEL": "use DEBUG, INFO, WARNING or ERROR",
    "SMC_BOT_LOG_FORMAT": "use text or json",
    "SMC_BOT_IMPORT_POLL_SECONDS": "set a whole number of seconds between 1 and 300 (default 20)",
    "SMC_BOT_IMPORT_TIMEOUT_MINUTES": "set a whole number of minutes between 1 and 240 (default 15)",
    "SMC_BOT_IMPORT_SCRIPT_LINUX": (
        "point it at a readable shell script that uses {{accessTokenId}} and {{accessTokenCode}} "
        "(start from bot/scripts/import_linux.sh), or unset it for the built-in one"
    ),
    "SMC_BOT_IMPORT_SCRIPT_WINDOWS": (
        "point it at a readable PowerShell script that uses {{accessTokenId}} and {{accessTokenCode}} "
        "(start from bot/scripts/import_windows.ps1), or unset it for the built-in one"
    ),
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line per problem, with the fix."""


def _field_for(env_name: str) -> str:
    for field, info in Settings.model_fields.items():
        if info.validation_alias == env_name:
            return field
    raise KeyError(env_name)


def _env_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return str(alias) if isinstance(alias, str) else field.upper()


def _why(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Input should be "):
        if message.startswith(prefix):
            message = ("should be " if prefix.startswith("Input") else "") + message[len(prefix) :]
    return message


def load_settings() -> Settings:
    """Read the environment; a bad value raises ConfigError naming the variable, the problem and the fix."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            name = _env_name(tuple(error.get("loc", ())))
            lines.append(f"{name} {_why(error)}: {_FIXES.get(name, 'check its value')}.")
        raise ConfigError("\n".join(lines)) from None
