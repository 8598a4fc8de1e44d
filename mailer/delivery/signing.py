"""DKIM's private-key operations and body hashes in a helper process, so the sending loop
keeps its CPU.

A worker is one Python process whose event loop (personalising, SMTP, recording) holds
the GIL. Signed inline, an RSA-2048 signature costs that loop 0.4-0.55 ms per copy and
the SHA-256 of an 88 KB body about 0.06 ms more, against about 1 ms for everything else
a copy needs. Here the worker canonicalizes the signed header fields and assembles the
header (``DkimSigner.head_parts``, ``assemble``); the body (as it is, no copy in
Python), what each key hashes before the body hash, and the key's index go over a Unix
socket to a child process that holds the keys, hashes the body and signs, and answers
with the body hash and the signatures. The signature and the body hash run on another
CPU.

The worker's side costs little: requests made in one turn of the event loop leave in one
``sendmsg`` (scatter-gather: the body is not copied in user space), the child answers
every request it has read in one ``sendall``, and the replies are read with one
``recv`` per wake-up. Used when the worker may run on more than one CPU
(``MAILER_DKIM_PROCESS=auto``; on one CPU the hand-off would only add work). If the child
dies, copies are signed in the worker again: never sent unsigned.

A process, not threads: OpenSSL's signature and hashlib release the GIL, but each call
takes it back when it returns, and beside a busy event loop a signing thread then waits
for it most of the time (``benchmarks/dkim_threads.py``: under 5 % of its own rate).

Protocol, both ways length-prefixed (``!I``) frames on one socket: first the keys (JSON,
a list of PEM strings), answered by an empty frame once they load; then per copy one
frame: ``!B`` number of keys, per key ``!H`` key index, ``!I`` length and what it hashes
before the body hash, then the canonical body; answered in order by one frame per copy:
the body hash (base64, 44 bytes), then per key ``!H`` length and signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailer.delivery.dkim import DkimKey, DkimSigner, Pending, PrivateKey, sign_digest, split_body

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_INDEX = struct.Struct("!H")
_KEY = struct.Struct("!HI")  # key index, length of what it hashes before the body hash
_BODYHASH = 44  # base64 of a SHA-256 digest
_BUFFER = 1 << 20  # socket buffers: a few 88 KB bodies in flight without blocking
_REPLIES = 1 << 16  # read per wake-up: the answers to about 200 copies
_IOV_MAX = 512  # buffers per sendmsg (Linux allows 1024)
START_SECONDS = 30.0  # a child that has not loaded its keys by then is given up


def usable_cpus() -> int:
    """How many CPUs this process may run on (its affinity, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def wanted(setting: str) -> bool:
    """Whether ``MAILER_DKIM_PROCESS`` (auto, on, off) asks for the helper process here."""
    return setting == "on" or (setting == "auto" and usable_cpus() > 1)


class SigningProcess:
    """The worker's side: canonicalizes the headers, has the child hash the body and sign,
    assembles the header."""

    def __init__(self, keys: Sequence[DkimKey], proc: asyncio.subprocess.Process,
                 link: _Link) -> None:
        self._index = {id(k.key): i for i, k in enumerate(keys)}
        self.proc = proc
        self._link = link
        self.signed = 0  # signatures the child made

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(cls, signers: Sequence[DkimSigner]) -> SigningProcess:
        """Start the child with every key of ``signers``; raises OSError (or TimeoutError)
        if it does not come up."""
        keys = list({id(k.key): k for s in signers for k in s.keys}.values())
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for sock in (ours, theirs):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
                except OSError:  # the system's limit stands
                    pass
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mailer.delivery.signing", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        link = _Link(ours)
        try:
            pems = json.dumps([_pem(k.key) for k in keys]).encode("ascii")
            started = link.request([_LENGTH.pack(len(pems)), pems])
            await asyncio.wait_for(started, START_SECONDS)
        except BaseException:
            link.close()
            await _stop(proc)
            raise
        return cls(keys, proc, link)

    async def signature_headers(self, signer: DkimSigner, message: bytes, *,
                                shared_head: bytes = b"") -> bytes:
        """``signer.signature_headers(message, shared_head=…)``, the body hash and the
        private-key operations made by the child (here, if it is gone)."""
        if not self._link.lost:
            head, body = split_body(message)
            parts = signer.head_parts(head, shared_head=shared_head)
            index = [self._index.get(id(key.key)) for key, _, _ in parts]
            if None not in index:
                pieces: list[bytes | memoryview] = [b""]
                size = 1 + len(body)
                for i, (_, _, prefix) in zip(index, parts, strict=True):
                    pieces.append(_KEY.pack(i, len(prefix)))
                    pieces.append(prefix)
                    size += _KEY.size + len(prefix)
                pieces[0] = _LENGTH.pack(size) + bytes((len(parts),))
                pieces.append(body)
                try:
                    reply = await self._link.request(pieces)
                except ConnectionError as exc:
                    log.warning("the DKIM signing process stopped (%s); signing in the "
                                "worker from now on", exc)
                else:
                    bodyhash, signatures = reply[:_BODYHASH], _split(reply, _BODYHASH)
                    self.signed += len(signatures)
                    return signer.assemble(
                        [Pending(key, folded, bodyhash, b"") for key, folded, _ in parts],
                        signatures)
        return signer.signature_headers(message, shared_head=shared_head)

    async def close(self) -> None:
        """Close the socket (the child exits at its end) and wait for the child."""
        self._link.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except TimeoutError:
            await _stop(self.proc)


class _Link:
    """The worker's end of the socket, on the event loop without a transport: requests
    of one turn of the loop leave in one ``sendmsg``; replies go to the waiting copies
    in order."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.waiting: deque[asyncio.Future[bytes]] = deque()
        self.out: list[bytes | memoryview] = []
        self.buffer = bytearray()
        self.lost = False
        self._queued = False  # a send is due in this turn of the loop
        self._writer = False  # waiting for room in the socket
        self.loop.add_reader(sock, self._readable)

    def request(self, pieces: list[bytes | memoryview]) -> asyncio.Future[bytes]:
        """Queue one frame (its pieces); the future gets the answer's payload."""
        fut: asyncio.Future[bytes] = self.loop.create_future()
        if self.lost:
            fut.set_exception(ConnectionError("it exited"))
            return fut
        self.waiting.append(fut)
        self.out.extend(pieces)
        if not self._queued and not self._writer:
            self._queued = True
            self.loop.call_soon(self._send)
        return fut

    def _send(self) -> None:
        self._queued = False
        out = self.out
        while out:
            try:
                sent = self.sock.sendmsg(out[:_IOV_MAX])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(exc)
                return
            while sent:
                size = len(out[0])
                if sent >= size:
                    del out[0]
                    sent -= size
                else:
                    out[0] = memoryview(out[0])[sent:]
                    sent = 0
        if out and not self._writer:
            self._writer = True
            self.loop.add_writer(self.sock, self._send)
        elif not out and self._writer:
            self._writer = False
            self.loop.remove_writer(self.sock)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(_REPLIES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        buf = self.buffer
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        at, end = 0, len(data)
        while end - at >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(data, at)
            stop = at + _LENGTH.size + size
            if stop > end:
                break
            fut = self.waiting.popleft()
            if not fut.done():  # its sender was cancelled at a stop
                fut.set_result(data[at + _LENGTH.size:stop])
            at = stop
        if at < end:
            buf += data[at:]

    def _lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        self.lost = True
        self.out.clear()
        self.loop.remove_reader(self.sock)
        if self._writer:
            self._writer = False
            self.loop.remove_writer(self.sock)
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(str(exc) if exc else "it exited"))

    def close(self) -> None:
        self._lost(None)
        self.sock.close()


def _split(payload: bytes, at: int = 0) -> list[bytes]:
    """(``!H`` length, signature) pairs from ``at``."""
    out = []
    while at < len(payload):
        (size,) = _INDEX.unpack_from(payload, at)
        at += _INDEX.size
        out.append(payload[at:at + size])
        at += size
    return out


def _pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def serve(sock: socket.socket) -> None:
    """The child: hash and sign every copy that arrives until the worker closes the
    socket; the answers to everything read at once leave in one ``sendall``. Read into
    one buffer that is reused (no allocation per read; bodies are hashed in place)."""
    buf = bytearray(4 * _BUFFER)
    start = end = 0  # unread bytes: buf[start:end]
    keys: list[PrivateKey] | None = None
    while True:
        if end == len(buf):  # full: move the unread part to the front, or grow
            if start:
                buf[:end - start] = buf[start:end]
                start, end = 0, end - start
            else:
                buf.extend(bytes(len(buf)))
        with memoryview(buf) as view:
            got = sock.recv_into(view[end:])
        if not got:
            return
        end += got
        replies: list[bytes] = []
        with memoryview(buf) as view:
            while end - start >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(buf, start)
                stop = start + _LENGTH.size + size
                if stop > end:
                    break
                with view[start + _LENGTH.size:stop] as frame:
                    if keys is None:
                        keys = _load(bytes(frame))
                        replies.append(_LENGTH.pack(0))
                    else:
                        reply = _sign(keys, frame)
                        replies.append(_LENGTH.pack(len(reply)) + reply)
                start = stop
        if start == end:
            start = end = 0
        if replies:
            sock.sendall(b"".join(replies))


def _load(first: bytes) -> list[PrivateKey]:
    keys: list[PrivateKey] = []
    for pem in json.loads(first):
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise TypeError(f"not a DKIM key: {type(key).__name__}")
        keys.append(key)
    return keys


def _sign(keys: list[PrivateKey], frame: memoryview) -> bytes:
    """One copy: the body hash, then per key the signature of its digest."""
    count, at = frame[0], 1
    todo = []
    for _ in range(count):
        index, size = _KEY.unpack_from(frame, at)
        at += _KEY.size
        todo.append((index, at, at + size))
        at += size
    with frame[at:] as body:
        bodyhash = base64.b64encode(hashlib.sha256(body).digest())
    out = [bodyhash]
    for index, low, high in todo:
        with frame[low:high] as prefix:
            digest = hashlib.sha256(prefix)
        digest.update(bodyhash + b"; b=")
        signature = sign_digest(keys[index], digest.digest())
        out.append(_INDEX.pack(len(signature)) + signature)
    return b"".join(out)


def main() -> None:
    # The worker stops us by closing the socket; a Ctrl-C or a SIGTERM to the whole
    # process group must not kill us while it still has copies in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=int(sys.argv[1])) as sock:
        try:
            serve(sock)
        except (BrokenPipeError, ConnectionResetError):
            pass


if __name__ == "__main__":
    main()
