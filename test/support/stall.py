"""Stall tests: does one hostile request hold up everybody else?

The registry serves every user from one event loop per worker, so CPU work on the loop (a render, a
parse, a hash) delays every other request for as long. ``assert_no_stall`` runs the hostile request
in a thread while another user asks ``GET /v2/`` again and again, and fails when any of those answers
takes longer than the bound: generous (the machine is small and shared), yet far below the seconds a
stalled loop costs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")
STALL_BOUND = 1.0  # seconds for another user's GET /v2/ while the hostile request runs


def assert_no_stall(base_url: str, probe_auth: tuple[str, str], hostile: Callable[[], T],
                    bound: float = STALL_BOUND, what: str = "the hostile request") -> T:
    """Run ``hostile()`` while timing another user's ``GET /v2/``; return what ``hostile`` returned.

    Fails if a probe takes over ``bound`` seconds (or does not answer 200), or if ``hostile`` raised.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = hostile()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread below
            outcome["error"] = exc

    probe = requests.Session()
    probe.auth = probe_auth
    assert probe.get(f"{base_url}/v2/", timeout=30).status_code == 200  # connected and warm
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    slowest, probes = 0.0, 0
    while worker.is_alive() or probes == 0:
        started = time.monotonic()
        try:
            answer = probe.get(f"{base_url}/v2/", timeout=bound)
        except requests.Timeout:
            raise AssertionError(f"another user's GET /v2/ took over {bound} s while {what} ran") from None
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        slowest, probes = max(slowest, elapsed), probes + 1
        assert elapsed <= bound, f"another user's GET /v2/ took {elapsed:.2f} s while {what} ran"
        time.sleep(0.01)
    worker.join()
    print(f"stall probe: {probes} probes, slowest {slowest:.3f} s while {what} ran")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
