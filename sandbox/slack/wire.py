"""Reading Web API requests off the wire: form, query string, JSON or multipart bodies, and the token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

Json = dict[str, Any]


@dataclass
class ApiRequest:
    """Arguments, uploaded files and the token of one call; `malformed` names a body Slack could not read."""

    params: Json = field(default_factory=dict)
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    token: str | None = None
    is_json: bool = False
    malformed: str | None = None


def parse_api_request(*, query: str, content_type: str, body: bytes, authorization: str | None) -> ApiRequest:
    """Merge query and body arguments the way Slack does; with a JSON body only the header carries a token."""
    request = ApiRequest(params=dict(parse_qsl(query, keep_blank_values=True)))
    media_type = content_type.split(";", 1)[0].strip().lower()
    if body:
        if media_type == "application/json":
            request.is_json = True
            try:
                decoded = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                request.malformed = "invalid_json"
                decoded = {}
            if not isinstance(decoded, dict):
                request.malformed = "invalid_json"
                decoded = {}
            request.params.update(decoded)
        elif media_type == "multipart/form-data":
            fields, uploads = parse_multipart(content_type, body)
            request.params.update(fields)
            request.uploads = uploads
        else:
            try:
                request.params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                request.malformed = "invalid_form_data"
    body_token = None if request.is_json else request.params.get("token")
    request.params.pop("token", None)
    header_token = None
    if authorization and authorization.lower().startswith("bearer "):
        header_token = authorization[7:].strip()
    request.token = header_token or (str(body_token) if body_token else None)
    return request


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Fields and files of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    uploads: dict[str, tuple[str, bytes]] = {}
    if not message.is_multipart():
        return fields, uploads
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            uploads[name] = (filename, data)
        else:
            fields[name] = data.decode("utf-8", errors="replace")
    return fields, uploads
