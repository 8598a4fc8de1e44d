"""Bulk work yields the CPU to the web: ``mailer worker`` and ``mailer subscribers import``
lower their own CPU priority (``MAILER_BULK_NICE``) so that, on a busy machine, a
one-click unsubscribe or a sign-up in ``mailer serve`` gets a CPU before a batch of the
import or the next copy of a mailing (issue 13: the web's time under load was mostly
spent runnable, waiting for a CPU).

Linux's scheduler compares nice values only between the processes of one *autogroup* (one
session: processes started from the same terminal, script or service manager session)
and of one CPU cgroup. So: when the command is a session leader of its own (started with
``setsid``, or by a service manager that does so), it also lowers its autogroup's priority;
otherwise (started from a shell, beside ``mailer serve``) only its own. Between services in
cgroups of their own (systemd with the cpu controller) use the units' ``CPUWeight=``.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

#: The highest nice value (lowest priority) on Linux and the BSDs.
NICE_MAX = 19


def lower_priority(nice: int) -> int:
    """Run this process (and the threads and processes it starts from now on) at nice
    ``nice`` at least: never raised, nor lowered past ``NICE_MAX``. Call it before the
    command starts threads (on Linux a thread's priority is its own; new ones inherit).
    Returns the nice value now in force (0 where the platform has none)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return _current()
    now = _current()
    target = min(max(now, nice), NICE_MAX)
    try:
        if target != now:
            os.setpriority(os.PRIO_PROCESS, 0, target)
    except OSError as exc:  # pragma: no cover - a sandbox that forbids it
        log.warning("could not lower the CPU priority to nice %d: %s", target, exc)
        return now
    _lower_autogroup(target)
    return target


def _current() -> int:
    if not hasattr(os, "getpriority"):
        return 0
    return os.getpriority(os.PRIO_PROCESS, 0)


def _lower_autogroup(nice: int) -> None:
    """In a session of its own, the command's autogroup competes with the web's as a
    whole: lower the group's priority too (only ever lower it)."""
    autogroup = "/proc/self/autogroup"
    try:
        if os.getsid(0) != os.getpid():
            return  # a shell's session: its group holds the shell and maybe mailer serve
        with open(autogroup, encoding="ascii") as fh:  # "/autogroup-339 nice 0"
            current = int(fh.read().split()[-1])
        if current < nice:
            with open(autogroup, "w", encoding="ascii") as fh:
                fh.write(str(nice))
    except (OSError, ValueError, IndexError):
        return  # no autogroups (disabled, not Linux) or not allowed: the process's own only
