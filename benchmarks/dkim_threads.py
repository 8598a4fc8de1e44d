"""Why DKIM is signed in a helper process and not in threads of the worker.

    python benchmarks/dkim_threads.py [--seconds 3]

``cryptography`` (>= 42) releases the GIL while it signs, and hashlib while it hashes a
buffer over 2 KB, so a thread could sign on a second CPU beside the worker's event loop.
But each of those calls takes the GIL back when it returns, and a Python thread that
waits for the GIL gets it only when the holder releases it and does not take it back
first, or after the switch interval (5 ms). This measures one signing thread (the
worker's per-copy work: SHA-256 of an 88 KB body, then an RSA-2048 signature of the
header digest) on CPU 1 while the main thread on CPU 0:

  - is idle (the thread's own rate, the reference measured in the same run);
  - computes in pure Python without a system call;
  - computes and makes a system call every N loop steps (``os.write`` to /dev/null, as
    the event loop sends), N = 1,000 and 3,000;

at the default switch interval and at 1 ms, and prints the signing thread's rate as a
share of its rate alone, and what the main thread kept of its own rate.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import threading
import time

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.hashes import SHA256

KEY = rsa.generate_private_key(65537, 2048)
BODY = os.urandom(88_000)
HEAD = b"x" * 600  # the signed header fields, relaxed


def sign_one() -> bytes:
    bodyhash = base64.b64encode(hashlib.sha256(BODY).digest())
    digest = hashlib.sha256(HEAD + bodyhash + b"; b=").digest()
    return KEY.sign(digest, padding.PKCS1v15(), Prehashed(SHA256()))


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})  # this thread only


def run(seconds: float, steps: int | None, interval: float) -> tuple[float, float]:
    """(signatures a second in the thread, main-thread loop units a second);
    ``steps`` None: the main thread sleeps (idle); 0: pure Python; else a write each."""
    sys.setswitchinterval(interval)
    stop = threading.Event()
    signed = 0

    def signer() -> None:
        nonlocal signed
        _pin(1)
        while not stop.is_set():
            sign_one()
            signed += 1

    thread = threading.Thread(target=signer)
    thread.start()
    if steps is None:
        time.sleep(seconds)
        rate = 0.0
    else:
        rate = _busy(seconds, steps)
    stop.set()
    thread.join()
    sys.setswitchinterval(0.005)
    return signed / seconds, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    alone, _ = run(args.seconds, None, 0.005)
    print(f"signing thread alone: {alone:,.0f} signatures/s (SHA-256 of 88 KB + RSA-2048); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for steps, what in ((0, "pure Python, no system call"),
                        (1000, "a write every 1,000 steps"),
                        (3000, "a write every 3,000 steps")):
        base = None
        for interval in (0.005, 0.001):
            rate, units = run(args.seconds, steps, interval)
            if base is None:
                # the main thread's own rate: the same loop with no signing thread
                base = _busy(args.seconds, steps)
            print(f"main thread busy ({what}), switch interval {interval * 1e3:.0f} ms: "
                  f"signing {rate:,.0f}/s ({rate / alone:.0%} of alone); the main thread "
                  f"kept {units / base:.0%} of its rate")


def _busy(seconds: float, steps: int) -> float:
    """The main thread on CPU 0: loop units a second, each ``steps`` (0: 1,000) steps of
    Python and, unless 0, a write to /dev/null."""
    _pin(0)
    units = 0
    end = time.perf_counter() + seconds
    with open(os.devnull, "wb", buffering=0) as null:
        while time.perf_counter() < end:
            x = 0
            for i in range(steps or 1000):
                x += i * i
            if steps:
                null.write(b"x")
            units += 1
    return units / seconds

if __name__ == "__main__":
    main()
