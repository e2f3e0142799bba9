"""The STS credential cache: reuse until shortly before Expiration, one AssumeRole at a time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.cloud.credentials import RoleCredentialCache, check_session_name, default_session_name
from bot.cloud.ports import Credentials, Secret

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class CountingAssumer:
    """Stands in for STS: hands out numbered credentials valid for one hour."""

    def __init__(self, clock: FakeClock, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.clock = clock
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, account_id: str, role_name: str) -> Credentials:
        if self.gate is not None:
            self.gate.wait(5)
        with self.lock:
            self.calls.append((account_id, role_name))
            n = len(self.calls)
        return Credentials(
            f"STS.{n}", Secret(f"secret-{n}"), Secret(f"token-{n}"), self.clock() + timedelta(hours=1)
        )


def test_credentials_are_reused_until_the_refresh_margin() -> None:
    clock = FakeClock()
    assume = CountingAssumer(clock)
    cache = RoleCredentialCache(assume, refresh_margin=timedelta(minutes=5), clock=clock)

    first = cache.get("2000000000000002", "ram-role-smc")
    clock.now = START + timedelta(minutes=54)
    assert cache.get("2000000000000002", "ram-role-smc") is first
    clock.now = START + timedelta(minutes=55)
    second = cache.get("2000000000000002", "ram-role-smc")

    assert second.access_key_id == "STS.2"
    assert assume.calls == [("2000000000000002", "ram-role-smc")] * 2


def test_each_account_and_role_has_its_own_credentials() -> None:
    clock = FakeClock()
    assume = CountingAssumer(clock)
    cache = RoleCredentialCache(assume, clock=clock)
    a = cache.get("2000000000000002", "ram-role-smc")
    b = cache.get("3000000000000003", "ram-role-smc")
    c = cache.get("2000000000000002", "other-role")
    assert len({a.access_key_id, b.access_key_id, c.access_key_id}) == 3


def test_invalidate_drops_only_the_rejected_credentials() -> None:
    clock = FakeClock()
    assume = CountingAssumer(clock)
    cache = RoleCredentialCache(assume, clock=clock)
    stale = cache.get("2000000000000002", "ram-role-smc")
    cache.invalidate("2000000000000002", "ram-role-smc", stale=stale)
    fresh = cache.get("2000000000000002", "ram-role-smc")
    # A second caller that saw the same rejection must not throw away the fresh credentials.
    cache.invalidate("2000000000000002", "ram-role-smc", stale=stale)
    assert cache.get("2000000000000002", "ram-role-smc") is fresh
    assert len(assume.calls) == 2


def test_concurrent_callers_share_one_assume_role() -> None:
    clock = FakeClock()
    gate = threading.Event()
    assume = CountingAssumer(clock, gate)
    cache = RoleCredentialCache(assume, clock=clock)
    results: list[Credentials] = []

    def worker() -> None:
        results.append(cache.get("2000000000000002", "ram-role-smc"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)

    assert len(assume.calls) == 1
    assert {r.access_key_id for r in results} == {"STS.1"}


def test_session_names_follow_sts_rules() -> None:
    assert check_session_name(default_session_name()).startswith("smc-chatops-")
    assert check_session_name("smc-chatops-a1.b@c_d") == "smc-chatops-a1.b@c_d"
    for bad in ("x", "has space", "a" * 65, "slash/no"):
        with pytest.raises(ValueError, match="RoleSessionName"):
            check_session_name(bad)


def test_an_expiration_from_a_skewed_clock_does_not_force_assume_role_on_every_call() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def assume(account_id: str, role_name: str) -> Credentials:
        calls.append(1)
        # The service's clock is a year behind ours: its Expiration is already past on our clock.
        return Credentials("STS.x", Secret("s-secret"), Secret("s-token"), START - timedelta(days=365))

    cache = RoleCredentialCache(assume, max_lifetime=timedelta(minutes=15), clock=clock)
    first = cache.get("2000000000000002", "ram-role-smc")
    clock.now = START + timedelta(minutes=9)
    assert cache.get("2000000000000002", "ram-role-smc") is first
    clock.now = START + timedelta(minutes=10)
    cache.get("2000000000000002", "ram-role-smc")
    assert len(calls) == 2
