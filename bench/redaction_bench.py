"""What redaction costs per log line and per dead letter, against a literal-only baseline.

Run: ``.venv/bin/python -m bench.redaction_bench`` (``--secrets N`` for more secrets). The
texts are a 150-byte log message and a 9 KB stack trace (the bound of the dead-letter stack
header), neither containing a secret (the common case: every record is scanned, few match).
The baseline is one regular expression of the raw secret values only, as before encoded
forms were recognised; `Redactor` also matches percent-encoded, escaped, bytes-repr and
base64 forms. Each figure is the best of several rounds.
"""

from __future__ import annotations

import argparse
import functools
import re
import timeit
from collections.abc import Callable

from connector.redaction import Redactor

MESSAGE = (
    "handle_batch failed for product 3f2b8c1e-5d4a-4e2f-9b7c-1a2b3c4d5e6f at offset 123456: "
    "HTTP 500 from https://shop.test/rest/V1/products"
)
STACK = (
    '  File "/usr/lib/python3.11/site-packages/httpx/_client.py", line 1234, in send\n'
    "    response = self._send_handling_auth(request)\n"
) * 70


def _secrets(count: int) -> list[str]:
    base = ["connector-secret", "k-1234567890abcdef", "Pg-s3cret pass", "tök€n/with+signs"]
    return [f"{base[i % len(base)]}-{i}" for i in range(count)]


def _best(func: Callable[[], object], number: int, rounds: int = 5) -> float:
    """Best µs per call over `rounds` rounds of `number` calls."""
    return min(timeit.repeat(func, repeat=rounds, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=5, help="secret values (default 5)")
    args = parser.parse_args()
    secrets = _secrets(args.secrets)
    redactor = Redactor(secrets)
    literal = re.compile("|".join(map(re.escape, sorted(secrets, key=len, reverse=True))))
    print(f"{args.secrets} secrets; µs per text, best of 5 rounds")
    print(f"{'text':<22}{'literal only':>14}{'Redactor':>12}{'ratio':>8}")
    for name, text, number in (
        (f"message ({len(MESSAGE)} B)", MESSAGE, 20_000),
        (f"stack ({len(STACK) // 1024} KB)", STACK, 300),
    ):
        base = _best(functools.partial(literal.sub, "***", text), number)
        full = _best(functools.partial(redactor.redact, text), number)
        print(f"{name:<22}{base:>14.1f}{full:>12.1f}{full / base:>7.1f}x")


if __name__ == "__main__":
    main()
