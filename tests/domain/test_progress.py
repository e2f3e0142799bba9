"""Speed, ETA, milestones and the human units of the status thread, with exact numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.params import GIB, NetworkType
from bot.domain.progress import (
    LOW_SPEED_BPS,
    ProgressSample,
    average_speed,
    crossed_milestones,
    eta,
    human_bytes,
    human_duration,
    human_rate,
    is_low_speed,
    low_speed_advice,
    median_speed,
    progress_bar,
    speed_between,
    transferred_bytes,
)

T0 = datetime(2030, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- speed and ETA ----------------------------------------------------------------------------------


def test_transferred_bytes_is_progress_times_total() -> None:
    assert transferred_bytes(25, 1_000_000_000) == 250_000_000
    assert transferred_bytes(150, 1_000) == 1_000
    assert transferred_bytes(-3, 1_000) == 0


def test_speed_is_uncompressed_bytes_per_second_from_the_progress_delta() -> None:
    earlier = ProgressSample(at(0), 25.0, 1_000_000_000)
    later = ProgressSample(at(50), 50.0, 1_000_000_000)
    assert speed_between(earlier, later) == 5_000_000


def test_speed_needs_totals_elapsed_time_and_forward_progress() -> None:
    assert speed_between(ProgressSample(at(0), 10.0), ProgressSample(at(60), 20.0)) is None
    assert speed_between(ProgressSample(at(60), 10.0, 100), ProgressSample(at(60), 20.0, 100)) is None
    assert speed_between(ProgressSample(at(0), 80.0, 100), ProgressSample(at(60), 5.0, 100)) is None
    assert speed_between(ProgressSample(at(0), 40.0, 100), ProgressSample(at(60), 40.0, 100)) == 0


def test_eta_is_remaining_bytes_over_speed() -> None:
    assert eta(1_000_000_000, 250_000_000, 5_000_000) == timedelta(seconds=150)
    assert eta(100, 100, 5) == timedelta(0)
    assert eta(100, 120, 5) == timedelta(0)


@pytest.mark.parametrize("speed", [None, 0.0, -1.0, float("inf"), float("nan")])
def test_eta_is_unknown_without_a_positive_speed(speed: float | None) -> None:
    assert eta(100, 10, speed) is None


def test_average_speed_of_a_finished_job() -> None:
    assert average_speed(36 * GIB, at(0), at(3600)) == 36 * GIB / 3600
    assert average_speed(36 * GIB, at(0), at(0)) is None
    assert average_speed(36 * GIB, at(10), at(0)) is None


def test_the_median_ignores_unusable_speeds() -> None:
    assert median_speed([3.0, 1.0, 100.0, 0.0, -5.0, float("inf")]) == 3.0
    assert median_speed([2.0, 4.0]) == 3.0
    assert median_speed([]) is None


# -- low speed -------------------------------------------------------------------------------------


def test_low_speed_thresholds_per_network_type() -> None:
    assert is_low_speed(999_999, NetworkType.PUBLIC)
    assert not is_low_speed(1_000_000, NetworkType.PUBLIC)
    assert is_low_speed(4_999_999, NetworkType.VPC)
    assert not is_low_speed(5_000_000, NetworkType.VPC)
    assert not is_low_speed(None, NetworkType.PUBLIC)
    assert LOW_SPEED_BPS[NetworkType.PUBLIC] < LOW_SPEED_BPS[NetworkType.VPC]


def test_low_speed_advice_says_raise_bandwidth_or_use_vpc() -> None:
    public = low_speed_advice(NetworkType.PUBLIC)
    assert "raise the public bandwidth" in public
    assert "VPC" in public
    assert "Modify speed" not in public
    limited = low_speed_advice(NetworkType.VPC, speed_limit_mbps=20)
    assert limited.startswith("The job is limited to 20 Mbit/s: raise the limit with Modify speed")
    assert "VPN Gateway" in limited


# -- milestones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "crossed"),
    [
        (0, 20, []),
        (20, 55, [25, 50]),
        (24.9, 25, [25]),
        (25, 25, []),
        (25, 100, [50, 75]),
        (80, 20, []),
        (0, 100, [25, 50, 75]),
    ],
)
def test_milestones_crossed_between_two_readings(previous: float, current: float, crossed: list[int]) -> None:
    assert crossed_milestones(previous, current) == crossed


def test_custom_marks_are_reported_ascending_and_once() -> None:
    assert crossed_milestones(0, 100, marks=(90, 10, 50, 10)) == [10, 50, 90]


@given(st.lists(st.floats(min_value=-10, max_value=110, allow_nan=False), max_size=40))
def test_a_milestone_is_never_reported_twice(readings: list[float]) -> None:
    """With the high-water mark as `previous`, wobbling progress cannot repeat a milestone."""
    peak = 0.0
    reported: list[int] = []
    for reading in readings:
        reported += crossed_milestones(peak, reading)
        peak = max(peak, reading)
    assert len(reported) == len(set(reported))
    assert sorted(reported) == [m for m in (25, 50, 75) if m <= peak]


# -- rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "bar"),
    [
        (42, "▓▓▓▓▓▓▓▓░░░░░░░░░░░░ 42%"),
        (0, "░░░░░░░░░░░░░░░░░░░░ 0%"),
        (99.9, "▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓░ 99%"),
        (100, "▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓ 100%"),
        (150, "▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓ 100%"),
        (-5, "░░░░░░░░░░░░░░░░░░░░ 0%"),
        (float("nan"), "░░░░░░░░░░░░░░░░░░░░ 0%"),
    ],
)
def test_progress_bar(percent: float, bar: str) -> None:
    assert progress_bar(percent) == bar


def test_progress_bar_width() -> None:
    assert progress_bar(50, width=8) == "▓▓▓▓░░░░ 50%"
    with pytest.raises(ValueError, match="at least one cell"):
        progress_bar(50, width=0)


@given(st.floats(min_value=0, max_value=100), st.integers(min_value=1, max_value=60))
def test_progress_bar_always_has_its_width_and_never_overstates(percent: float, width: int) -> None:
    cells, label = progress_bar(percent, width).split(" ")
    assert len(cells) == width
    assert set(cells) <= {"▓", "░"}
    assert cells.count("▓") / width * 100 <= percent
    assert int(label.rstrip("%")) <= percent


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (37 * GIB, "37.0 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (3 * 1024**5, "3072.0 TiB"),
    ],
)
def test_human_bytes(value: int, text: str) -> None:
    assert human_bytes(value) == text


def test_human_rate_gives_megabytes_and_megabits() -> None:
    assert human_rate(12_500_000) == "12.5 MB/s (100 Mbit/s)"
    assert human_rate(1_000_000) == "1.0 MB/s (8 Mbit/s)"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=45), "45 s"),
        (59.4, "59 s"),
        (60, "1 min"),
        (timedelta(minutes=12, seconds=29), "12 min"),
        (timedelta(hours=3, minutes=5), "3 h 05 min"),
        (timedelta(hours=23, minutes=59, seconds=40), "1 d 0 h"),
        (timedelta(days=2, hours=4), "2 d 4 h"),
        (-30, "0 s"),
    ],
)
def test_human_duration(value: timedelta | float, text: str) -> None:
    assert human_duration(value) == text
