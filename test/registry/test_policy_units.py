"""The small pure parts of the policies: sizes, month splits, tag patterns, time arguments."""

from __future__ import annotations

import calendar
import time

import pytest

from registry.immutable import matching
from registry.policy_cli import parse_time
from registry.quota import format_size, parse_size
from registry.usage import split_by_month


@pytest.mark.parametrize(("text", "size"), [("10GiB", 10 * 2**30), ("500MB", 500 * 10**6), ("1.5GB", 1_500_000_000),
                                            ("2048", 2048), (" 4 kib ", 4096), ("0", 0)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "10 parsecs", "-1GB", "1e9"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="a size is a number"):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(0) == "0 B" and format_size(1536) == "1.5 KiB" and format_size(10 * 2**30) == "10.0 GiB"


def test_months_split_at_their_boundaries() -> None:
    start = calendar.timegm((2026, 12, 31, 23, 0, 0))
    end = calendar.timegm((2027, 2, 1, 1, 0, 0))
    parts = split_by_month(start, end)
    assert [month for month, _ in parts] == ["2026-12", "2027-01", "2027-02"]
    assert [seconds for _, seconds in parts] == [3600, 31 * 86400, 3600]
    assert split_by_month(end, end) == []


def test_tag_patterns() -> None:
    assert matching("v1.2", ["1.*", "v*"]) == "v*"
    assert matching("1.2.3", ["1.*"]) == "1.*"
    assert matching("V1", ["v*"]) is None  # case matters, as tags are case-sensitive
    assert matching("release-7", ["release-?"]) == "release-?"


def test_time_arguments() -> None:
    assert parse_time("2026-11-30T12:00:00Z") == calendar.timegm((2026, 11, 30, 12, 0, 0))
    assert parse_time("2026-11-30T12:00:00") == calendar.timegm((2026, 11, 30, 12, 0, 0))  # UTC unless told
    assert abs(parse_time("7d") - (time.time() - 7 * 86400)) < 5
