"""A long fuzz campaign over every parser of untrusted input; run by hand, not by pytest.

    .venv/bin/python -m tests.fuzz_parsers --minutes 10

Hypothesis generates inputs (`tests.hostile`) in rounds until the time is up: feed bodies with
response headers (`parse_feed`), header and feed numbers (`max_age`, `retry_after`,
`bounded_int`), addresses (`is_public_address`) and prologs (`strip_doctype`). It prints how
many inputs ran and each distinct failure (shrunk by Hypothesis) with its traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from news.feeds import bounded_int, is_public_address, strip_doctype
from news.polling import ScheduleSettings, max_age, retry_after
from tests.hostile import NOW, bodies, check_parse, headers, text

ROUND = settings(
    max_examples=2_000,
    deadline=None,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
count = 0


@ROUND
@given(bodies, headers)
def fuzz_parse(body: bytes, response_headers: dict[str, str]) -> None:
    global count
    count += 1
    check_parse(body, response_headers)


@ROUND
@given(st.one_of(text, st.text(alphabet='0123456789e.,-+ ="max-age', max_size=40)))
def fuzz_numbers(value: str) -> None:
    global count
    count += 1
    found = bounded_int(value, maximum=10**6)
    assert found is None or 0 <= found <= 10**6
    age = max_age({"Cache-Control": value})
    assert age is None or timedelta(0) <= age
    delay = retry_after(value, NOW, ScheduleSettings())
    assert delay is None or timedelta(0) < delay <= timedelta(days=1)


@ROUND
@given(st.integers(0, 2**128 - 1), st.integers(0, 2**32 - 1))
def fuzz_addresses(number: int, ipv4: int) -> None:
    global count
    count += 1
    is_public_address(str(ipaddress.IPv6Address(number)))
    inner = ipaddress.IPv4Address(ipv4)
    for prefix in (0x2002 << 112 | ipv4 << 80, 0x64FF9B << 96 | ipv4):
        if not is_public_address(str(inner)):
            assert not is_public_address(str(ipaddress.IPv6Address(prefix)))


@ROUND
@given(st.binary(max_size=3000))
def fuzz_prolog(body: bytes) -> None:
    global count
    count += 1
    stripped = strip_doctype(body)
    assert len(stripped) <= len(body) * 4 + 8


TARGETS: list[Callable[[], None]] = [
    fuzz_parse,
    fuzz_parse,
    fuzz_numbers,
    fuzz_addresses,
    fuzz_prolog,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    minutes = parser.parse_args().minutes
    end = time.monotonic() + minutes * 60
    failures: dict[str, str] = {}
    rounds = 0
    while time.monotonic() < end:
        target = TARGETS[rounds % len(TARGETS)]
        rounds += 1
        try:
            target()
        except Exception as failure:  # report, keep fuzzing the rest
            key = f"{target.__name__}: {type(failure).__name__}: {str(failure)[:200]}"
            if key not in failures:
                failures[key] = traceback.format_exc()
                print("FOUND", key, flush=True)
        print(f"round {rounds}: {count} inputs so far, {len(failures)} failures", flush=True)
    print(f"{count} inputs in {minutes:g} min over {rounds} rounds; {len(failures)} failures")
    for key, trace in failures.items():
        print("=" * 70, key, trace, sep="\n")


if __name__ == "__main__":
    main()
