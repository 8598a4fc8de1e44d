"""Send benchmark: our whole pipeline against three references, on one Postfix smtp-sink.

    python benchmarks/send.py [-n 20000] [--connections 4] [--processes 1] [--no-pin]
                              [--dkim-only] [--dkim-layout helper|inline|unpinned]
                              [--dkim-unpinned] [--dkim-process auto|on|off]
                              [--rounds 2] [--profile DIR] [--against DIR]

Measured in one run, on the same sink on loopback:
  1. mailer: plan (INSERT … SELECT) + claim + personalise + send + record, N copies
     of the flagship issue (rendered once by the compose renderer) to N subscribers;
  2. smtp-source: Postfix's C client, same count and size (the machine's limit);
  3. aiosmtplib: pre-built bytes of the same size over the same number of connections
     (the library's ceiling: its sendmail with line-ending and dot-stuffing passes);
  4. naive: an ``EmailMessage`` built per recipient, sent with smtplib (the floor).
  5. mailer with DKIM: run 1 again without and with every copy DKIM-signed (RSA-2048),
     ``--rounds`` times in alternating order (without first, then with first, …) so a
     load that changes during the run weighs on both halves alike; the same worker
     processes (``--processes``) on the same CPUs in both halves. ``--dkim-layout``:
     ``helper`` (default, a multi-CPU host's layout): the worker on the senders' CPU,
     its DKIM helper process (``MAILER_DKIM_PROCESS=on``: body hash and signature) moved
     to another CPU, the sink's; ``inline``: signing in the worker on its one CPU;
     ``unpinned`` (``--dkim-unpinned``): every process on every CPU. The CPU per copy is
     the workers' own and their helpers' apart (read from /proc), start-up left out (a
     run of one copy in the same mode). Beside it, in isolation: the CPU that signing
     adds to the worker's own build of a copy (``MessageTemplate.build`` with and
     without the signer, one copy at a time as the worker builds them), the part a
     worker keeps with a helper, the issue's reference (cryptography's RSA-2048 sign of
     the body, SHA-256 included), OpenSSL's bare RSA-2048 signature and dkimpy's
     ``dkim.sign``.
Prints the rates and our ratio to each; ``--dkim-only`` runs 1 and 5; ``--profile DIR``
only runs 1 without and with DKIM under py-spy (samples of the thread holding the GIL)
and says where the worker's time went; ``--against DIR`` only runs 1 with this
checkout's worker and DIR's (another checkout, e.g. main) alternating, ``--rounds``
rounds, smtp-source after each: an A/B on the same sink and load. The sink and the
senders are pinned to different CPUs with taskset (``--no-pin`` leaves it to the OS)
and the CPUs are shown.
Installs Debian's postfix package if the tools are missing (no daemon is started) and
kills the sink on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
SECRET = "benchmark-secret-key-0123456789abcdef"
FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"


def ensure_postfix_tools() -> None:
    if Path(SINK).exists() and Path(SOURCE).exists():
        return
    if os.geteuid() != 0:
        sys.exit("smtp-sink/smtp-source missing: install Debian's postfix package "
                 "(apt-get install postfix), then run again")
    # Never let the package start a Postfix daemon.
    Path("/usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    os.chmod("/usr/sbin/policy-rc.d", 0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], check=True, env=env)
    subprocess.run(["postfix", "stop"], check=False, capture_output=True)


RESULTS: dict[str, float] = {}


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


SINK_PID: int | None = None  # the smtp-sink of this run: its CPU is read per pipeline run


def _pid_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a running process has used so far (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd


class Sink:
    """smtp-sink on 127.0.0.1, killed for sure on exit."""

    def __init__(self, cpu: str | None) -> None:
        self.port = free_port()
        user = "postfix" if _user_exists("postfix") else "nobody"
        self.proc = subprocess.Popen(
            pinned([SINK, "-u", user, f"127.0.0.1:{self.port}", "1024"], cpu),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as s:
                    s.noop()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("smtp-sink did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def flagship():  # type: ignore[no-untyped-def]
    """The rendered flagship issue (or the synthetic stand-in if it cannot be rendered)."""
    from mailer.config import load_settings
    from mailer.errors import MailerError

    try:
        from mailer.delivery.sources import render_path

        src = render_path(FLAGSHIP, load_settings(ROOT, secret_key=SECRET))
        return src.rendered, "flagship issue nr 6 2023"
    except (MailerError, ImportError) as exc:
        from tests.delivery_support import synthetic_rendered

        return synthetic_rendered(), f"synthetic stand-in ({exc})"


# --- 1. our pipeline ------------------------------------------------------------------
@dataclass
class Run:
    """One run of the whole pipeline: wall seconds (planning, sending), CPU seconds of
    the worker processes and their DKIM helpers, and the outbox afterwards."""

    n: int
    plan: float
    send: float
    cpu: float
    size: int
    states: dict[str, int]
    helper: float = 0.0  # CPU seconds of the DKIM helper processes (part of ``cpu``)
    helpers: int = 0  # how many were seen
    sink: float = 0.0  # CPU seconds the smtp-sink used while the worker sent

    @property
    def rate(self) -> float:
        return self.n / (self.plan + self.send)


class Helpers(threading.Thread):
    """Finds the DKIM helper process of each worker, moves it to ``cpu`` (None: leaves
    it), and reads its CPU time until it exits (the worker waits for it, so its time is
    also in the workers' children's). Polls from a thread on ``cpu`` itself, every 50 ms."""

    def __init__(self, workers: list[int], cpu: str | None) -> None:
        super().__init__(daemon=True)
        self.workers, self.cpu = workers, cpu
        self.seen: dict[int, float] = {}  # helper pid -> CPU seconds at the last read
        self.done = threading.Event()

    def run(self) -> None:
        if self.cpu is not None:
            os.sched_setaffinity(0, _cpu_set(self.cpu))  # this thread only
        tick = os.sysconf("SC_CLK_TCK")
        while not self.done.wait(0.05):
            if len(self.seen) < len(self.workers):
                kids = _children(self.workers)
                kids += _children(kids)  # under py-spy (--profile) the worker is a child
                for pid in kids:
                    if pid not in self.seen and _is_helper(pid):
                        self.seen[pid] = 0.0
                        if self.cpu is not None:
                            with contextlib.suppress(OSError):
                                os.sched_setaffinity(pid, _cpu_set(self.cpu))
            for pid in self.seen:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # it exited: its last reading stands
                self.seen[pid] = (int(fields[11]) + int(fields[12])) / tick

    def stop(self) -> float:
        self.done.set()
        self.join()
        return sum(self.seen.values())


def _cpu_set(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def _children(parents: list[int]) -> list[int]:
    """Child pids of ``parents`` (/proc/PID/task/*/children, else a scan of /proc)."""
    found: list[int] = []
    if not parents:
        return found
    try:
        for parent in parents:
            for f in Path(f"/proc/{parent}/task").glob("*/children"):
                found += [int(p) for p in f.read_text().split()]
        if found or Path(f"/proc/{parents[0]}/task/{parents[0]}/children").exists():
            return found
    except OSError:
        pass
    want = {str(p) for p in parents}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "stat").read_text().rsplit(")", 1)[1].split()[1] in want:
                    found.append(int(d.name))
    return found


def _is_helper(pid: int) -> bool:
    try:
        return b"mailer.delivery.signing" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def run_pipeline(n: int, port: int, connections: int, processes: int,
                 cpu: str | None, dkim: bool = False, dkim_process: str = "auto",
                 profile: Path | None = None, helper_cpu: str | None = None,
                 code: Path = ROOT) -> Run:
    from sqlalchemy import func, select

    from mailer.services.mailings import plan_mailing
    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import OutboxRow
    from tests.delivery_support import add_subscribers

    ws = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    url = f"sqlite:///{ws / 'mailer.db'}"
    engine = make_engine(url)
    upgrade(engine)
    add_subscribers(engine, n)
    rendered, _ = flagship()
    t0 = time.perf_counter()
    with transaction(engine) as s:
        plan_mailing(s, rendered, kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    t_plan = time.perf_counter() - t0
    env = dict(os.environ, MAILER_WORKSPACE=str(ws), MAILER_DATABASE_URL=url,
               MAILER_SMTP_URL=f"smtp://127.0.0.1:{port}", MAILER_SECRET_KEY=SECRET,
               MAILER_SMTP_CONNECTIONS=str(connections), MAILER_SMTP_RECYCLE_AFTER="100000",
               MAILER_BOUNCE_ADDRESS="bounces@example.org", PYTHONPATH=str(code))
    if dkim:
        from mailer.delivery.dkim import generate_key, write_key

        write_key(generate_key("rsa"), ws / "dkim" / "bench.pem")
        env.update(MAILER_DKIM_SELECTOR="bench", MAILER_DKIM_DOMAIN="example.org",
                   MAILER_DKIM_PROCESS=dkim_process)
    cpu0 = _children_cpu()  # the workers' and, once they are waited for, their helpers'
    sink0 = _pid_cpu(SINK_PID)
    t1 = time.perf_counter()
    cmd = [sys.executable, "-m", "mailer", "worker", "--drain"]
    if profile is not None:  # py-spy samples the worker (its CPU then counts py-spy's too)
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
               "--rate", "250", "--subprocesses", "--gil", "-o", str(profile), "--", *cmd]
    procs = [subprocess.Popen(pinned(cmd, cpu), cwd=code, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for _ in range(processes)]
    helpers = Helpers([p.pid for p in procs], helper_cpu) if dkim else None
    if helpers is not None:
        helpers.start()
    outs = [p.communicate()[0] for p in procs]
    t_send = time.perf_counter() - t1
    used = _children_cpu() - cpu0
    sink_used = _pid_cpu(SINK_PID) - sink0
    helper = helpers.stop() if helpers is not None else 0.0
    for p, out in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"worker failed:\n{out}")
    with transaction(engine) as s:
        states = dict(s.execute(select(OutboxRow.status, func.count())
                                .group_by(OutboxRow.status)).all())
    size = len(sample_bytes(rendered))
    engine.dispose()
    shutil.rmtree(ws, ignore_errors=True)
    return Run(n, t_plan, t_send, used, size, {str(k): v for k, v in states.items()}, helper,
               len(helpers.seen) if helpers is not None else 0, sink_used)


def template(rendered, signer=None):  # type: ignore[no-untyped-def]
    """The worker's MessageTemplate for the flagship mailing (optionally DKIM-signing)."""
    from mailer.config import load_settings
    from mailer.delivery.message import MessageTemplate
    from mailer.links import Links
    from mailer.store.models import Mailing, MailingKind
    from mailer.tokens import Tokens

    settings = load_settings(ROOT, secret_key=SECRET)
    m = Mailing(id=1, kind=MailingKind.newsletter, subject=rendered.subject, html=rendered.html,
                text=rendered.text, language="sv", list_ids=[1],
                headers={"list_slug": "medborgardialog", "list_name": "Medborgardialog"})
    return MessageTemplate.for_mailing(m, sender=settings.sender, signer=signer,
                                       links=Links(settings.base_url, Tokens(SECRET)))


def sample_bytes(rendered) -> bytes:  # type: ignore[no-untyped-def]
    from mailer.delivery.message import Recipient

    return template(rendered).build(Recipient(1, "person1@example.test", "Åsa Öberg", 1, 1)).data


@dataclass
class SignCost:
    """CPU seconds per message (see ``dkim_sign_cost``)."""

    inline: float  # what signing adds to building a copy, all in the worker
    worker_part: float  # of it, what stays in the worker with a helper process
    floor: float  # OpenSSL's bare RSA-2048 signature of a digest
    reference: float  # the issue's: cryptography's RSA-2048 sign of the body (SHA-256 in it)
    dkimpy: float  # dkimpy's own dkim.sign


def dkim_sign_cost(rendered, rounds: int = 2000) -> SignCost:  # type: ignore[no-untyped-def]
    """CPU seconds per message (best of 5 rounds, this process): what DKIM adds to the
    worker's own build of a copy (MessageTemplate.build with the signer against the same
    build without), the part of it the worker keeps when a helper hashes the body and
    signs (``DkimSigner.head_parts`` and ``assemble``), the issue's reference (the budget
    assumed "cryptography's RSA-2048 sign plus a SHA-256 body hash": ``key.sign`` of the
    copy's body with PKCS#1 v1.5 and SHA-256, which hashes it in OpenSSL), the floor
    (OpenSSL's RSA-2048 signature of a digest alone) and dkimpy's pure-Python
    ``dkim.sign`` on the same message."""
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives.hashes import SHA256

    from mailer.delivery.dkim import DkimKey, DkimSigner, Pending, generate_key, split_body
    from mailer.delivery.message import Recipient

    key = generate_key("rsa")
    signer = DkimSigner([DkimKey("example.org", "bench", key)])
    plain = template(rendered)
    signing = template(rendered, signer)
    people = [Recipient(i, f"person{i}@example.test", "Åsa Öberg", i, 1)
              for i in range(1, rounds + 1)]
    digest = b"\x01" * 32

    def best(job, items) -> float:  # type: ignore[no-untyped-def]
        # One copy at a time, each dropped before the next as the worker does: keeping
        # 2,000 copies of 88 KB alive would time the kernel's page faults as well.
        times = []
        for _ in range(5):
            t0 = time.process_time()
            for item in items:
                job(item)
            times.append((time.process_time() - t0) / len(items))
        return min(times)

    without = best(plain.build, people)
    with_ = best(signing.build, people)
    padding_, prehashed, sha256 = padding.PKCS1v15(), Prehashed(SHA256()), SHA256()
    floor = best(lambda _: key.sign(digest, padding_, prehashed), range(rounds))
    body = bytes(split_body(plain.build(people[0]).data)[1])
    reference = best(lambda _: key.sign(body, padding_, sha256), range(rounds))
    signature, bodyhash = [b"\x01" * 256], b"A" * 44

    def worker_part(r: Recipient) -> bytes:
        data: bytes = plain.build(r).data
        parts = signer.head_parts(split_body(data)[0], shared_head=plain.static_top)
        return signer.assemble([Pending(k, folded, bodyhash, b"") for k, folded, _ in parts],
                               signature) + data
    kept = best(worker_part, people)
    data = plain.build(people[0]).data
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    few = max(rounds // 40, 10)
    t0 = time.process_time()
    for _ in range(few):
        dkim.sign(data, b"bench", b"example.org", pem,
                  include_headers=[b"from", b"to", b"subject", b"list-unsubscribe-post"])
    return SignCost(with_ - without, kept - without, floor, reference,
                    (time.process_time() - t0) / few)


def _cpus(spec: str | None) -> int:
    """How many CPUs a taskset list ("0", "0-1", "0,2") names (None: all)."""
    return len(_cpu_set(spec)) if spec is not None else os.cpu_count() or 1


LAYOUTS = {
    "helper": "the worker on the senders' CPU as without DKIM, its DKIM helper process "
              "moved to the sink's CPU (another CPU, as on a multi-CPU host), "
              "MAILER_DKIM_PROCESS=on",
    "inline": "the worker on the senders' CPU as without DKIM, signing in the worker "
              "(MAILER_DKIM_PROCESS=off; what auto does on one CPU)",
    "unpinned": "the worker (and its helper) free to use every CPU, shared with the sink, "
                "in both halves",
}


def cpu_bounds(layout: str, ncpu: int, worker: float, helper: float, sink: float) -> float:
    """The most copies a second that the CPU allows, given the CPU seconds per copy of the
    worker, its DKIM helper and the sink: the sink is one process (one CPU at most);
    pinned layouts give the worker every CPU but the sink's, and put the helper on the
    sink's CPU (``helper``); unpinned, the three share every CPU."""
    if layout == "unpinned" or ncpu < 2:
        return min(ncpu / (worker + helper + sink), 1 / sink)
    if layout == "helper":
        return min((ncpu - 1) / worker, 1 / (sink + helper))
    return min((ncpu - 1) / (worker + helper), 1 / sink)  # inline: helper is 0


def dkim_pair(args: argparse.Namespace, port: int, send_cpu: str | None,  # type: ignore[no-untyped-def]
              sink_cpu: str | None, rendered) -> None:
    """5.: the pipeline without and with DKIM, ``--rounds`` pairs in alternating order,
    the same worker processes on the same CPUs in both halves."""
    ncpu = os.cpu_count() or 1
    n, c, procs = args.n, args.connections, args.processes
    layout = args.dkim_layout
    if layout != "unpinned" and send_cpu is None:
        layout = "unpinned"  # nothing is pinned (--no-pin, one CPU)
    cpus = send_cpu if layout != "unpinned" or send_cpu is None else f"0-{ncpu - 1}"
    helper_cpu = sink_cpu if layout == "helper" else None
    process = args.dkim_process or {"helper": "on", "inline": "off"}.get(layout, "auto")
    helper = process == "on" or (process == "auto" and _cpus(cpus) > 1)
    print(f"DKIM pair  : layout '{layout}': {LAYOUTS[layout]}")
    print(f"             {procs} worker process(es) x {c} connections on CPUs "
          f"{cpus or 'any'} in both halves; with DKIM the body hash and private-key "
          f"operations {'in a helper process per worker' if helper else 'in the worker'}"
          f"{f' on CPU {helper_cpu}' if helper and helper_cpu else ''} "
          f"(MAILER_DKIM_PROCESS={process}); {args.rounds} round(s) of {n}; load average "
          f"{os.getloadavg()[0]:.2f}")

    def run(count: int, dkim: bool) -> Run:
        return run_pipeline(count, port, c, procs, cpus, dkim, process, helper_cpu=helper_cpu)
    # Start-up (interpreter, imports, the helper's too): a run of one copy in each mode.
    startup = {dkim: run(1, dkim) for dkim in (False, True)}
    runs: dict[bool, list[Run]] = {False: [], True: []}
    for r in range(args.rounds):
        for dkim in ((False, True) if r % 2 == 0 else (True, False)):
            runs[dkim].append(run(n, dkim))

    def worker(run: Run, dkim: bool) -> float:
        """The workers' own CPU per copy (their helpers' left out), start-up left out."""
        s = startup[dkim]
        return (run.cpu - run.helper - (s.cpu - s.helper)) / run.n

    def helper_cpu_per_copy(run: Run) -> float:
        return (run.helper - startup[True].helper) / run.n if run.helpers else 0.0

    for r, (plain, signed) in enumerate(zip(runs[False], runs[True], strict=True), 1):
        print(f"  round {r}  : {plain.rate:6.0f} -> {signed.rate:6.0f} msg/s "
              f"({signed.rate / plain.rate:.0%}); worker CPU per copy "
              f"{worker(plain, False) * 1e3:.3f} -> {worker(signed, True) * 1e3:.3f} ms"
              + (f", its helper {helper_cpu_per_copy(signed) * 1e3:.3f} ms"
                 if signed.helpers else "")
              + f"; the sink {plain.sink / plain.n * 1e3:.3f} -> "
                f"{signed.sink / signed.n * 1e3:.3f} ms; DKIM outbox {signed.states}")
    ratio = median(s.rate / p.rate for p, s in zip(runs[False], runs[True], strict=True))
    cpu_without = median(worker(p, False) for p in runs[False])
    cpu_with = median(worker(s, True) for s in runs[True])
    in_helper = median(helper_cpu_per_copy(s) for s in runs[True])
    print(f"mailer+DKIM: throughput with DKIM {ratio:.0%} of without by the clock (median of "
          f"{args.rounds}; target >= 80 %); worker CPU per copy {cpu_without * 1e3:.3f} -> "
          f"{cpu_with * 1e3:.3f} ms (+{(cpu_with - cpu_without) * 1e3:.3f} in the worker)"
          + (f", helper {in_helper * 1e3:.3f} ms per copy: DKIM in the pipeline "
             f"{(cpu_with - cpu_without + in_helper) * 1e3:.3f} ms CPU per copy in all"
             if helper else "")
          + f" (start-up {startup[False].cpu:.2f} / {startup[True].cpu:.2f} s left out); "
          f"load average {os.getloadavg()[0]:.2f}")
    sink_without = median(p.sink / p.n for p in runs[False])
    sink_with = median(s.sink / s.n for s in runs[True])
    if sink_without > 0 and sink_with > 0:
        best_without, best_with = cpu_bounds(layout, ncpu, cpu_without, 0.0, sink_without), \
            cpu_bounds(layout, ncpu, cpu_with, in_helper, sink_with)
        print(f"CPU bound  : per copy the worker, its helper and the sink need "
              f"{(cpu_without + sink_without) * 1e3:.3f} ms of CPU without DKIM and "
              f"{(cpu_with + in_helper + sink_with) * 1e3:.3f} ms with it (the sink "
              f"{sink_without * 1e3:.3f} / {sink_with * 1e3:.3f} ms); on {ncpu} CPUs in this "
              f"layout that allows at most {best_without:.0f} and {best_with:.0f} msg/s: "
              f"with DKIM at most {best_with / best_without:.0%} of without even if every "
              f"CPU were busy all the time (the run without DKIM reached "
              f"{median(p.rate for p in runs[False]) / best_without:.0%} of its bound, "
              f"with DKIM {median(s.rate for s in runs[True]) / best_with:.0%})")
    cost = dkim_sign_cost(rendered)
    print(f"DKIM       : in isolation (best of 5 x 2,000 copies): signing adds "
          f"{cost.inline * 1e3:.3f} ms CPU to building a copy (budget 0.5 ms); the issue's "
          f"reference, cryptography's RSA-2048 sign of the body with its SHA-256, measured "
          f"here: {cost.reference * 1e3:.3f} ms (OpenSSL's bare signature of a digest "
          f"{cost.floor * 1e3:.3f} ms); we add {(cost.inline - cost.reference) * 1e3:.3f} ms "
          f"beyond the reference (the signed header fields canonicalized and hashed, "
          f"base64, folding); with a helper the worker keeps "
          f"{cost.worker_part * 1e3:.3f} ms (headers and assembly, the hand-off not "
          f"included); dkimpy's dkim.sign {cost.dkimpy * 1e3:.2f} ms "
          f"({cost.dkimpy / cost.inline:.0f}x ours)")


# --- 2. smtp-source -------------------------------------------------------------------
def run_smtp_source(n: int, port: int, size: int, sessions: int, cpu: str | None) -> float:
    cmd = pinned([SOURCE, "-d", "-s", str(sessions), "-l", str(size), "-m", str(n),
                  "-f", "nyhetsbrev@example.org", "-t", "person@example.test",
                  f"127.0.0.1:{port}"], cpu)
    c0 = _children_cpu()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    RESULTS["source_cpu"] = _children_cpu() - c0
    return time.perf_counter() - t0


# --- 3. aiosmtplib ceiling ------------------------------------------------------------
def run_aiosmtplib(n: int, port: int, data: bytes, connections: int) -> float:
    import aiosmtplib

    async def one(count: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        for i in range(count):
            await smtp.sendmail("nyhetsbrev@example.org", [f"p{i}@example.test"], data)
        await smtp.quit()

    async def main() -> None:
        per = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]
        await asyncio.gather(*(one(c) for c in per))

    c0 = _self_cpu()
    t0 = time.perf_counter()
    asyncio.run(main())
    RESULTS["aiosmtplib_cpu"] = _self_cpu() - c0
    return time.perf_counter() - t0


# --- 4. naive loop --------------------------------------------------------------------
def run_naive(n: int, port: int, rendered) -> float:  # type: ignore[no-untyped-def]
    from mailer.render.personalise import html_template, text_template

    html_t, text_t = html_template(rendered.html), text_template(rendered.text)
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            values = {"email": f"p{i}@example.test",
                      "unsubscribe_url": f"https://nyhetsbrev.example.org/u/{i}.1.x",
                      "preferences_url": f"https://nyhetsbrev.example.org/p/{i}.0.x",
                      "browser_url": "https://nyhetsbrev.example.org/archive/view/1"}
            msg = EmailMessage()
            msg["From"] = "Nyhetsbrev <nyhetsbrev@example.org>"
            msg["To"] = f"Åsa Öberg <p{i}@example.test>"
            msg["Subject"] = rendered.subject
            msg["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>"
            msg.set_content(text_t.fill(values))
            msg.add_alternative(html_t.fill(values), subtype="html")
            smtp.send_message(msg)
    return time.perf_counter() - t0


def against(args: argparse.Namespace, port: int, send_cpu: str | None,
            rendered) -> None:  # type: ignore[no-untyped-def]
    """``--against DIR``: the worker of this checkout and of DIR (another checkout of
    mailer, e.g. main, on the same database schema) alternating on the same sink,
    ``--rounds`` rounds, smtp-source after each round: an A/B that the machine's load
    weighs on alike."""
    other = args.against.resolve()
    if not (other / "mailer" / "__main__.py").exists():
        sys.exit(f"--against {other}: not a checkout of mailer (no mailer/__main__.py)")
    n, c = args.n, args.connections
    size = len(sample_bytes(rendered))
    codes = {"this": ROOT, "against": other}
    runs: dict[str, list[Run]] = {k: [] for k in codes}
    sources: list[float] = []
    for r in range(args.rounds):
        order = list(codes) if r % 2 == 0 else list(reversed(codes))
        for name in order:
            run = run_pipeline(n, port, c, args.processes, send_cpu, code=codes[name])
            runs[name].append(run)
            print(f"  round {r + 1}: {name:7s} ({codes[name]}): {run.rate:5.0f} msg/s, "
                  f"worker CPU {run.cpu / n * 1e3:.3f} ms per copy (start-up included); "
                  f"outbox {run.states}; load average {os.getloadavg()[0]:.2f}", flush=True)
        sources.append(n / run_smtp_source(n, port, size, c, send_cpu))
        print(f"  round {r + 1}: smtp-source {sources[-1]:5.0f} msg/s", flush=True)
    for name, got in runs.items():
        print(f"{name:7s}: {' / '.join(f'{x.rate:.0f}' for x in got)} msg/s "
              f"(median {median(x.rate for x in got):.0f}); of that round's smtp-source "
              f"{' / '.join(f'{x.rate / s:.0%}' for x, s in zip(got, sources, strict=True))}; "
              f"worker CPU per copy {' / '.join(f'{x.cpu / n * 1e3:.3f}' for x in got)} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20_000, help="messages (default 20000)")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--processes", type=int, default=1, help="worker processes for mailer")
    ap.add_argument("--naive", type=int, default=2000,
                    help="messages for the naive loop (it is slow; the rate is comparable)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin sink and senders")
    ap.add_argument("--dkim-layout", choices=sorted(LAYOUTS), default="helper",
                    help="where the DKIM comparison runs: " + "; ".join(
                        f"{k}: {v}" for k, v in LAYOUTS.items()) + " (default helper)")
    ap.add_argument("--dkim-unpinned", action="store_const", const="unpinned",
                    dest="dkim_layout", help="--dkim-layout unpinned")
    ap.add_argument("--dkim-only", action="store_true",
                    help="only mailer without and with DKIM, and the signing cost")
    ap.add_argument("--dkim-process", choices=("auto", "on", "off"),
                    help="MAILER_DKIM_PROCESS for the DKIM runs (default: the layout's; "
                         "auto for unpinned: a helper process per worker when the worker "
                         "has more than one CPU)")
    ap.add_argument("--profile", type=Path,
                    help="only run mailer without and with DKIM under py-spy (pip install "
                         "py-spy), raw samples and a summary in this folder")
    ap.add_argument("--rounds", type=int, default=2,
                    help="pairs of runs without and with DKIM (or, with --against, of "
                         "the two checkouts), in alternating order")
    ap.add_argument("--against", type=Path, metavar="DIR",
                    help="only compare this checkout's worker with DIR's (another "
                         "checkout of mailer), alternating, smtp-source after each round")
    args = ap.parse_args()
    ensure_postfix_tools()
    ncpu = os.cpu_count() or 1
    sink_cpu = None if args.no_pin or ncpu < 2 else str(ncpu - 1)
    send_cpu = None if args.no_pin or ncpu < 2 else ",".join(str(c) for c in range(ncpu - 1))
    if send_cpu is not None:
        os.sched_setaffinity(0, {int(c) for c in send_cpu.split(",")})
    sink = Sink(sink_cpu)
    global SINK_PID
    SINK_PID = sink.proc.pid  # taskset execs the sink: the same process
    signal.signal(signal.SIGTERM, lambda *_: (sink.stop(), sys.exit(1)))
    try:
        rendered, what = flagship()
        data = sample_bytes(rendered)
        print(f"content: {what}; one message {len(data) / 1024:.1f} KB "
              f"(HTML {len(rendered.html.encode()) / 1024:.1f} KB rendered)")
        print(f"CPUs: sink on {sink_cpu or 'any'}, senders on {send_cpu or 'any'} "
              f"({ncpu} online); load average {os.getloadavg()[0]:.2f} at start")
        n, c = args.n, args.connections
        if args.against is not None:
            against(args, sink.port, send_cpu, rendered)
            return
        if args.profile is not None:
            from benchmarks.big_mailing import summarise_profile

            args.profile.mkdir(parents=True, exist_ok=True)
            for dkim in (False, True):
                out = args.profile / ("dkim.txt" if dkim else "plain.txt")
                run = run_pipeline(n, sink.port, c, args.processes, send_cpu, dkim,
                                   args.dkim_process or "on", profile=out,
                                   helper_cpu=sink_cpu)
                print(f"profiled {'with' if dkim else 'without'} DKIM: {run.rate:.0f} msg/s "
                      f"under py-spy, raw samples in {out}")
                summarise_profile(out)
            return
        first = run_pipeline(n, sink.port, c, args.processes, send_cpu)
        RESULTS["mailer_cpu"] = first.cpu
        ours, size = first.rate, first.size
        print(f"mailer     : {ours:8.0f} msg/s  ({n} in {first.plan + first.send:.2f} s: plan "
              f"{first.plan:.2f} s, send+record {first.send:.2f} s, {c} connections x "
              f"{args.processes} process(es)); outbox {first.states}")
        dkim_pair(args, sink.port, send_cpu, sink_cpu, rendered)
        if args.dkim_only:
            print(f"load average {os.getloadavg()[0]:.2f} at the end (a shared machine is "
                  "noisy)")
            return
        t_src = run_smtp_source(n, sink.port, size, c, send_cpu)
        src = n / t_src
        print(f"smtp-source: {src:8.0f} msg/s  ({n} x {size} bytes, {c} sessions)")
        t_aio = run_aiosmtplib(n, sink.port, data, c)
        aio = n / t_aio
        print(f"aiosmtplib : {aio:8.0f} msg/s  (pre-built bytes, {c} connections)")
        t_naive = run_naive(args.naive, sink.port, rendered)
        naive = args.naive / t_naive
        print(f"naive      : {naive:8.0f} msg/s  (EmailMessage per recipient + smtplib, "
              f"{args.naive} messages)")
        per = {k: v / n * 1e6 for k, v in RESULTS.items()}
        print(f"CPU per message (sender side, load-independent): mailer "
              f"{per.get('mailer_cpu', 0):.0f} µs (whole pipeline incl. start-up and DB), "
              f"aiosmtplib {per.get('aiosmtplib_cpu', 0):.0f} µs, smtp-source "
              f"{per.get('source_cpu', 0):.0f} µs")
        print(f"ratios     : {ours / src:.0%} of smtp-source (target 20 %, goal 50 %), "
              f"{ours / aio:.0%} of aiosmtplib (target 80 %), {ours / naive:.1f}x naive "
              f"(target 3x)")
        print(f"load average {os.getloadavg()[0]:.2f} at the end (a shared machine is noisy)")
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
