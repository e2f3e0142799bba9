"""STS 2015-04-01: AssumeRole (trust, session names, durations; credentials expire on the simulator clock)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.cloud.api import Context, Handler
from sandbox.cloud.ids import secret_token
from sandbox.cloud.protocol import ApiError, Params, iso
from sandbox.cloud.world import StsSession

ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/([A-Za-z0-9.@_-]{1,64})$")
SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9=,.@:/_-]{2,96}$")
MIN_DURATION = 900
MAX_POLICY_BYTES = 2048


def assume_role(ctx: Context, params: Params) -> dict[str, Any]:
    """AssumeRole: temporary credentials for a role whose trust policy names the caller's account."""
    role_arn = params.require_text("RoleArn")
    session_name = params.require_text("RoleSessionName")
    match = ROLE_ARN.match(role_arn)
    if match is None:
        raise ApiError(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
    if SESSION_NAME.match(session_name) is None:
        raise ApiError(
            400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed."
        )
    policy = params.text("Policy")
    if policy is not None:
        if len(policy.encode()) > MAX_POLICY_BYTES:
            raise ApiError(
                400, "InvalidParameter.PolicySize", "The size of Policy must be smaller than 2048 bytes."
            )
        try:
            parsed = json.loads(policy)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or "Statement" not in parsed:
            raise ApiError(
                400, "InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check."
            )
    external_id = params.text("ExternalId")
    if external_id is not None and EXTERNAL_ID.match(external_id) is None:
        raise ApiError(400, "InvalidParameter.ExternalId", "The parameter ExternalId is wrongly formed.")
    account_uid, role_name = match.group(1), match.group(2)
    account = ctx.world.accounts.get(account_uid)
    role = account.role(role_name) if account is not None else None
    if role is None:
        raise ApiError(404, "EntityNotExist.Role", "The specified Role not exists .")
    caller_uid = ctx.caller.account_uid
    if caller_uid not in role.trusted_accounts or (role.external_id and role.external_id != external_id):
        raise ApiError(
            403,
            "NoPermission",
            "You are not authorized to do this action. You should be authorized by RAM.",
        )
    duration = params.int_or("DurationSeconds", min(3600, role.max_session_duration))
    if not MIN_DURATION <= duration <= role.max_session_duration:
        raise ApiError(
            400,
            "InvalidParameter.DurationSeconds",
            f"The Min/Max value of DurationSeconds is 15min/{role.max_session_duration // 3600}hr.",
        )
    # Expiry runs on the simulator clock unless the world says `sts: {real_clock: true}`.
    issued_at = datetime.now(UTC) if ctx.world.sts_real_clock else ctx.now
    session = StsSession(
        access_key_id=f"STS.{secret_token(25)}",
        secret=secret_token(40),
        token=f"CAIS{secret_token(280)}",
        account_uid=account_uid,
        role_name=role.name,
        role_id=role.role_id,
        session_name=session_name,
        caller_uid=caller_uid,
        expiration=(issued_at + timedelta(seconds=duration)).replace(microsecond=0),
        real_clock=ctx.world.sts_real_clock,
    )
    ctx.world.sts_sessions[session.access_key_id] = session
    return {
        "Credentials": {
            "AccessKeyId": session.access_key_id,
            "AccessKeySecret": session.secret,
            "SecurityToken": session.token,
            "Expiration": iso(session.expiration),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{session_name}",
            "Arn": f"{role.arn}/{session_name}",
        },
    }


def get_caller_identity(ctx: Context, params: Params) -> dict[str, Any]:
    """GetCallerIdentity: the account itself, or the assumed role session."""
    session = ctx.caller.session
    if session is None:
        uid = ctx.caller.account_uid
        return {
            "IdentityType": "Account",
            "AccountId": uid,
            "UserId": uid,
            "PrincipalId": uid,
            "Arn": f"acs:ram::{uid}:root",
            "RoleId": "",
        }
    return {
        "IdentityType": "AssumedRoleUser",
        "AccountId": session.account_uid,
        "UserId": "",
        "PrincipalId": f"{session.role_id}:{session.session_name}",
        "Arn": session.arn,
        "RoleId": session.role_id,
    }


ACTIONS: dict[str, Handler] = {
    "AssumeRole": assume_role,
    "GetCallerIdentity": get_caller_identity,
}
