"""The Web API methods the bot calls, with Slack's argument checks, errors and response shapes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.slack.blockkit import MAX_MESSAGE_TEXT, message_block_problems, view_problems, with_generated_ids
from sandbox.slack.errors import ApiError, invalid_arguments, invalid_blocks
from sandbox.slack.state import SlackState, StoredMessage
from sandbox.slack.views import StoredView
from sandbox.slack.workspace import BOT_USER_NAME, TEAM_DOMAIN, TEAM_NAME, Channel

Json = dict[str, Any]
Upload = tuple[str, bytes]
Handler = Callable[["Params"], Json]

DEFAULT_SCOPES = frozenset(
    {
        "commands",
        "chat:write",
        "chat:write.public",
        "users:read",
        "usergroups:read",
        "files:write",
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "channels:join",
        "im:write",
    }
)


class Params:
    """Request arguments from a form, query string or JSON body, read with Slack's coercions."""

    def __init__(self, data: Mapping[str, Any], uploads: Mapping[str, Upload] | None = None) -> None:
        self.data = dict(data)
        self.uploads = dict(uploads or {})

    def opt(self, key: str) -> str | None:
        """A string argument, None when absent or empty."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, (dict, list))
            else str(value)
        )

    def req(self, key: str) -> str:
        """A required string argument."""
        value = self.opt(key)
        if value is None:
            raise invalid_arguments([f"missing required field: {key}"])
        return value

    def flag(self, key: str) -> bool:
        """A boolean argument: true/1 are true."""
        value = self.data.get(key)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true") if value is not None else False

    def number(self, key: str, default: int) -> int:
        """An integer argument."""
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return int(float(str(value)))
        except (ValueError, OverflowError):
            raise invalid_arguments([f"must be an integer [json-pointer:/{key}]"]) from None

    def timestamp(self, key: str) -> float | None:
        """A message-timestamp argument (`oldest`, `latest`); Slack answers `invalid_ts_<key>` otherwise."""
        value = self.opt(key)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            raise ApiError(f"invalid_ts_{key}") from None

    def structured(self, key: str, *, error: str) -> Any:
        """A JSON argument, sent either as JSON or as a JSON-encoded string."""
        value = self.data.get(key)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ApiError(error) from None
        return value


class WebApi:
    """Method name -> handler; every handler runs under the state lock."""

    def __init__(self, state: SlackState, *, scopes: frozenset[str] = DEFAULT_SCOPES) -> None:
        self.state = state
        self.scopes = scopes
        self.handlers: dict[str, Handler] = {
            "api.test": lambda p: {
                "ok": True,
                "args": {k: v for k, v in p.data.items() if isinstance(v, str)},
            },
            "auth.test": self.auth_test,
            "users.info": self.users_info,
            "users.list": self.users_list,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "conversations.info": self.conversations_info,
            "conversations.list": self.conversations_list,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.join": self.conversations_join,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "chat.scheduleMessage": self.chat_schedule_message,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.upload": self.files_upload,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
            "files.info": self.files_info,
        }

    def call(self, method: str, params: Params) -> Json:
        """Run one method; raises ApiError for Slack's `ok: false` answers."""
        handler = self.handlers.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        with self.state.lock:
            return handler(params)

    # -- identity and directory ---------------------------------------------------------------------

    def auth_test(self, p: Params) -> Json:
        ws = self.state.workspace
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": ws.team_id,
            "user_id": self.state.bot_user_id,
            "bot_id": self.state.bot_id,
            "is_enterprise_install": False,
        }

    def users_info(self, p: Params) -> Json:
        user = self.state.workspace.users.get(p.req("user"))
        if user is None:
            raise ApiError("user_not_found")
        data = user.to_api(self.state.workspace.team_id)
        if p.flag("include_locale"):
            data["locale"] = "en-US"
        return {"ok": True, "user": data}

    def users_list(self, p: Params) -> Json:
        ws = self.state.workspace
        members = [u.to_api(ws.team_id) for u in ws.users.values()]
        page, next_cursor = _paginate(members, p)
        return {
            "ok": True,
            "members": page,
            "cache_ts": int(self.state.now()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def usergroups_list(self, p: Params) -> Json:
        ws = self.state.workspace
        groups = [g for g in ws.usergroups.values() if p.flag("include_disabled") or not g.disabled]
        return {
            "ok": True,
            "usergroups": [g.to_api(ws.team_id, include_users=p.flag("include_users")) for g in groups],
        }

    def usergroups_users_list(self, p: Params) -> Json:
        group = self.state.workspace.usergroups.get(p.req("usergroup"))
        if group is None:
            raise ApiError("no_such_subteam")
        if group.disabled and not p.flag("include_disabled"):
            raise ApiError("subteam_disabled")
        return {"ok": True, "users": list(group.users)}

    # -- conversations ------------------------------------------------------------------------------

    def channel(self, ref: str | None) -> Channel:
        """The channel named by id/name, or `channel_not_found`."""
        if not ref:
            raise ApiError("channel_not_found")
        channel = self.state.workspace.resolve_channel(ref)
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _is_member(self, channel: Channel) -> bool:
        return channel.is_im or channel.id in self.state.workspace.joined

    def _channel_api(self, channel: Channel, *, num_members: bool = False) -> Json:
        members = len(self.state.workspace.members_of(channel)) if num_members else None
        return channel.to_api(bot_is_member=self._is_member(channel), num_members=members)

    def _readable(self, ref: str | None) -> Channel:
        channel = self.channel(ref)
        if not channel.is_im:
            self._require_scope("groups:history" if channel.is_private else "channels:history")
        if not self._is_member(channel):
            raise ApiError("not_in_channel")
        return channel

    def _require_scope(self, scope: str) -> None:
        """Slack's answer to a method the app's token has no scope for."""
        if scope not in self.scopes:
            raise ApiError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def conversations_info(self, p: Params) -> Json:
        channel = self.channel(p.opt("channel"))
        if channel.is_private and not self._is_member(channel):
            raise ApiError("channel_not_found")
        return {"ok": True, "channel": self._channel_api(channel, num_members=p.flag("include_num_members"))}

    def conversations_list(self, p: Params) -> Json:
        types = set((p.opt("types") or "public_channel").split(","))
        chosen = []
        for channel in self.state.workspace.channels.values():
            kind = "im" if channel.is_im else "private_channel" if channel.is_private else "public_channel"
            if kind not in types or (p.flag("exclude_archived") and channel.is_archived):
                continue
            if kind == "private_channel" and not self._is_member(channel):
                continue
            chosen.append(self._channel_api(channel))
        page, next_cursor = _paginate(chosen, p)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def conversations_history(self, p: Params) -> Json:
        channel = self._readable(p.opt("channel"))
        msgs = _in_window(self.state.history(channel.id), p)
        msgs.reverse()
        return self._message_page(msgs, p)

    def conversations_replies(self, p: Params) -> Json:
        channel = self._readable(p.opt("channel"))
        msgs = self.state.thread(channel.id, p.req("ts"))
        parent, replies = msgs[0], _in_window(msgs[1:], p)
        return self._message_page([parent, *replies], p)

    def _message_page(self, msgs: list[StoredMessage], p: Params) -> Json:
        include = p.flag("include_all_metadata")
        page, next_cursor = _paginate(
            [self.state.message_to_api(m, include_metadata=include) for m in msgs], p
        )
        return {
            "ok": True,
            "messages": page,
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def conversations_join(self, p: Params) -> Json:
        self._require_scope("channels:join")
        channel = self.channel(p.opt("channel"))
        if channel.is_private or channel.is_im:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise ApiError("is_archived")
        already = channel.id in self.state.workspace.joined
        self.state.workspace.joined.add(channel.id)
        result: Json = {"ok": True, "channel": self._channel_api(channel)}
        if already:
            result["warning"] = "already_in_channel"
            result["response_metadata"] = {"warnings": ["already_in_channel"]}
        return result

    # -- messages -----------------------------------------------------------------------------------

    def _postable(self, ref: str | None) -> Channel:
        channel = self.channel(ref)
        if channel.is_archived:
            raise ApiError("is_archived")
        if not self._is_member(channel):
            if channel.is_private:
                raise ApiError("channel_not_found")
            if "chat:write.public" not in self.scopes:
                raise ApiError("not_in_channel")
        return channel

    def _content(self, p: Params, *, required: bool = True) -> tuple[str | None, list[Json] | None]:
        text = p.opt("text")
        if text is None and p.opt("markdown_text") is not None:
            text = p.opt("markdown_text")
        blocks = p.structured("blocks", error="invalid_blocks_format")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise ApiError("invalid_blocks_format")
            problems = message_block_problems(blocks)
            if problems:
                raise invalid_blocks(problems)
        attachments = p.structured("attachments", error="invalid_attachments")
        if required and not text and not blocks and not attachments:
            raise ApiError("no_text")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise ApiError("msg_too_long")
        return text, blocks

    def _metadata(self, p: Params) -> Json | None:
        metadata = p.structured("metadata", error="invalid_metadata_format")
        if metadata is None:
            return None
        if not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload", {}), dict)
        ):
            raise ApiError("invalid_metadata_format")
        return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}

    def chat_post_message(self, p: Params) -> Json:
        channel = self._postable(p.opt("channel"))
        text, blocks = self._content(p)
        metadata = self._metadata(p)
        msg = self.state.post_message(
            channel.id,
            text=text or "",
            blocks=self._with_ids(blocks),
            thread_ts=p.opt("thread_ts"),
            reply_broadcast=p.flag("reply_broadcast"),
            metadata=metadata,
        )
        return {"ok": True, "channel": channel.id, "ts": msg.ts, "message": self.state.message_to_api(msg)}

    def _with_ids(self, blocks: list[Json] | None) -> list[Json]:
        return with_generated_ids(blocks or [], self.state.rng)

    def _own_message(self, channel: Channel, ts: str, error: str) -> StoredMessage:
        msg = self.state.find_message(channel.id, ts)
        if not msg.is_bot:
            raise ApiError(error)
        return msg

    def chat_update(self, p: Params) -> Json:
        channel = self.channel(p.opt("channel"))
        msg = self._own_message(channel, p.req("ts"), "cant_update_message")
        text, blocks = self._content(p, required=False)
        metadata = self._metadata(p)
        if text is None and blocks is None and metadata is None and p.opt("attachments") is None:
            raise ApiError("no_text")
        self.state.update_message(
            msg, text=text, blocks=None if blocks is None else self._with_ids(blocks), metadata=metadata
        )
        return {
            "ok": True,
            "channel": channel.id,
            "ts": msg.ts,
            "text": msg.text,
            "message": self.state.message_to_api(msg),
        }

    def chat_delete(self, p: Params) -> Json:
        channel = self.channel(p.opt("channel"))
        msg = self._own_message(channel, p.req("ts"), "cant_delete_message")
        self.state.delete_message(msg)
        return {"ok": True, "channel": channel.id, "ts": msg.ts}

    def chat_post_ephemeral(self, p: Params) -> Json:
        channel = self._postable(p.opt("channel"))
        user = p.req("user")
        if user not in self.state.workspace.users:
            raise ApiError("user_not_found")
        if user not in self.state.workspace.members_of(channel):
            raise ApiError("user_not_in_channel")
        text, blocks = self._content(p)
        eph = self.state.post_ephemeral(
            channel.id,
            user,
            text=text or "",
            blocks=self._with_ids(blocks),
            thread_ts=p.opt("thread_ts"),
            source="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": eph.message_ts}

    def chat_get_permalink(self, p: Params) -> Json:
        channel = self.channel(p.opt("channel"))
        msg = self.state.find_message(channel.id, p.req("message_ts"))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
        if msg.thread_ts and msg.thread_ts != msg.ts:
            link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    def chat_schedule_message(self, p: Params) -> Json:
        channel = self._postable(p.opt("channel"))
        post_at = p.number("post_at", 0)
        now = self.state.now()
        if post_at <= now:
            raise ApiError("time_in_past")
        if post_at > now + 120 * 86_400:
            raise ApiError("time_too_far")
        text, blocks = self._content(p)
        scheduled_id = self.state.random_id("Q")
        message: Json = {
            "type": "message",
            "text": text or "",
            "bot_id": self.state.bot_id,
            "user": self.state.bot_user_id,
            "team": self.state.workspace.team_id,
        }
        if blocks:
            message["blocks"] = self._with_ids(blocks)
        self.state.schedule(
            {
                "scheduled_message_id": scheduled_id,
                "channel": channel.id,
                "post_at": post_at,
                "thread_ts": p.opt("thread_ts"),
                "message": message,
            }
        )
        return {
            "ok": True,
            "channel": channel.id,
            "scheduled_message_id": scheduled_id,
            "post_at": post_at,
            "message": message,
        }

    # -- views --------------------------------------------------------------------------------------

    def _view_arg(self, p: Params, *, allowed: tuple[str, ...]) -> Json:
        view = p.structured("view", error="invalid_arguments")
        if view is None:
            raise invalid_arguments(["missing required field: view"])
        problems = view_problems(view, allowed_types=allowed)
        if problems:
            raise invalid_arguments(problems)
        assert isinstance(view, dict)
        return view

    def _view_result(self, view: StoredView, kind: str) -> Json:
        snapshot = view.snapshot()
        self.state.event(
            kind,
            user=view.user,
            view_id=view.id,
            text=snapshot.title,
            blocks=snapshot.blocks,
            detail={
                "callback_id": snapshot.callback_id,
                "hash": view.hash,
                "type": view.type,
                "private_metadata": snapshot.private_metadata,
            },
        )
        return {"ok": True, "view": view.to_api()}

    def views_open(self, p: Params) -> Json:
        definition = self._view_arg(p, allowed=("modal",))
        trigger = self.state.exchange_trigger(p.opt("trigger_id") or p.opt("interactivity_pointer"))
        view = self.state.views.open(trigger.user, definition, self.state.now())
        return self._view_result(view, "view_opened")

    def views_push(self, p: Params) -> Json:
        definition = self._view_arg(p, allowed=("modal",))
        trigger = self.state.exchange_trigger(p.opt("trigger_id") or p.opt("interactivity_pointer"))
        stack = self.state.views.stacks.get(trigger.user) or []
        if trigger.view_id is not None and trigger.view_id not in stack:
            raise ApiError("not_found")  # the interaction came from a modal that is no longer open
        view = self.state.views.push(trigger.user, definition, self.state.now())
        return self._view_result(view, "view_pushed")

    def views_update(self, p: Params) -> Json:
        view_id, external_id = p.opt("view_id"), p.opt("external_id")
        if not view_id and not external_id:
            raise invalid_arguments(["missing required field: view_id or external_id"])
        existing = self.state.views.resolve(view_id=view_id, external_id=external_id)
        definition = self._view_arg(p, allowed=(existing.type,))
        view = self.state.views.update(existing, definition, self.state.now(), expected_hash=p.opt("hash"))
        return self._view_result(view, "view_updated")

    def views_publish(self, p: Params) -> Json:
        user = p.req("user_id")
        if user not in self.state.workspace.users:
            raise ApiError("user_not_found")
        definition = self._view_arg(p, allowed=("home",))
        view = self.state.views.publish(user, definition, self.state.now(), expected_hash=p.opt("hash"))
        return self._view_result(view, "home_published")

    # -- files --------------------------------------------------------------------------------------

    def _share_targets(self, p: Params, *keys: str) -> list[str]:
        refs: list[str] = []
        for key in keys:
            refs.extend(r for r in (p.opt(key) or "").split(",") if r)
        return [self._postable(ref).id for ref in refs]

    def files_upload(self, p: Params) -> Json:
        upload = p.uploads.get("file")
        if upload is not None:
            name, content = upload
        elif p.opt("content") is not None:
            name, content = "", (p.opt("content") or "").encode()
        else:
            raise ApiError("no_file_data")
        name = p.opt("filename") or name or "file"
        channels = self._share_targets(p, "channels")
        stored = self.state.new_file(
            name=name, title=p.opt("title") or name, length=len(content), via="files.upload"
        )
        stored.content = content
        self.state.share_files(
            [stored], channels, initial_comment=p.opt("initial_comment") or "", thread_ts=p.opt("thread_ts")
        )
        return {"ok": True, "file": self.state.file_to_api(stored)}

    def files_get_upload_url_external(self, p: Params) -> Json:
        name = p.req("filename")
        length = p.number("length", -1)
        if length < 0:
            raise invalid_arguments(["missing required field: length"])
        stored = self.state.new_file(name=name, title=name, length=length, via="files.getUploadURLExternal")
        return {
            "ok": True,
            "upload_url": f"{self.state.base_url}/upload/v1/{stored.upload_key}",
            "file_id": stored.id,
        }

    def files_complete_upload_external(self, p: Params) -> Json:
        entries = p.structured("files", error="invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise invalid_arguments(["missing required field: files"])
        chosen = []
        for entry in entries:
            stored = self.state.file(str(entry.get("id"))) if isinstance(entry, dict) else None
            if stored is None or stored.completed:
                raise ApiError("file_not_found")
            if stored.content is None:
                raise ApiError("file_upload_not_complete")
            if entry.get("title"):
                stored.title = str(entry["title"])
            chosen.append(stored)
        channels = self._share_targets(p, "channel_id", "channels")
        self.state.share_files(
            chosen, channels, initial_comment=p.opt("initial_comment") or "", thread_ts=p.opt("thread_ts")
        )
        return {"ok": True, "files": [self.state.file_to_api(f) for f in chosen]}

    def files_info(self, p: Params) -> Json:
        stored = self.state.file(p.req("file"))
        if stored is None or not stored.completed:
            raise ApiError("file_not_found")
        return {
            "ok": True,
            "file": self.state.file_to_api(stored),
            "content": "",
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }


def _paginate(items: list[Json], p: Params) -> tuple[list[Json], str]:
    """Slack's cursor pagination: an opaque cursor, '' when there is no next page."""
    limit = p.number("limit", 100) or 100
    cursor = p.opt("cursor")
    start = 0
    if cursor:
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
        except ValueError:
            raise ApiError("invalid_cursor") from None
    end = start + max(1, min(limit, 1000))
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor


def _in_window(msgs: list[StoredMessage], p: Params) -> list[StoredMessage]:
    """Messages between `oldest` and `latest` (exclusive unless `inclusive`)."""
    oldest, latest, inclusive = p.timestamp("oldest"), p.timestamp("latest"), p.flag("inclusive")

    def keep(ts: str) -> bool:
        t = float(ts)
        if oldest is not None and (t < oldest or (t == oldest and not inclusive)):
            return False
        return not (latest is not None and (t > latest or (t == latest and not inclusive)))

    return [m for m in msgs if keep(m.ts)]
