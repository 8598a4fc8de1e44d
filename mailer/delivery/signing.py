"""DKIM's private-key operations in a helper process, so the sending loop keeps its CPU.

A worker is one Python process whose event loop (personalising, SMTP, recording) holds
the GIL. Signed inline, an RSA-2048 signature costs that loop about 0.3 ms per copy on
top of the SHA-256 of the body and the header canonicalization (about 0.1 ms), against
about 1.1 ms for everything else a copy needs. Here the worker still prepares each
signature (``DkimSigner.prepare``: body hash, headers, the digest to sign) and assembles
the header, but the digest goes over a Unix socket to a child process that holds the
keys and answers with the signature: 32 bytes out, 256 back, so the hand-off costs the
loop far less than the signature did, and the signature runs on another CPU.

Used when the worker may run on more than one CPU (``MAILER_DKIM_PROCESS=auto``; on one
CPU the hand-off would only add work). If the child dies, copies are signed in the
worker again: never sent unsigned.

Protocol, both ways length-prefixed (``!I``) frames on one socket: first the keys (JSON,
a list of PEM strings), answered by an empty frame once they load; then per copy one
frame of (``!H`` key index, 32-byte digest) pairs, answered in order by one frame of
(``!H`` length, signature) pairs.
"""

from __future__ import annotations

import asyncio
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

from mailer.delivery.dkim import DkimKey, DkimSigner, PrivateKey, sign_digest

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_INDEX = struct.Struct("!H")
_DIGEST = 32  # SHA-256
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
    """The worker's side: prepares each signature, has the child make it, assembles."""

    def __init__(self, keys: Sequence[DkimKey], proc: asyncio.subprocess.Process,
                 transport: asyncio.Transport, replies: _Replies) -> None:
        self._index = {id(k.key): i for i, k in enumerate(keys)}
        self.proc = proc
        self._transport = transport
        self._replies = replies
        self.signed = 0  # signatures the child made

    @classmethod
    async def start(cls, signers: Sequence[DkimSigner]) -> SigningProcess:
        """Start the child with every key of ``signers``; raises OSError (or TimeoutError)
        if it does not come up."""
        keys = list({id(k.key): k for s in signers for k in s.keys}.values())
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mailer.delivery.signing", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        replies = _Replies()
        try:
            transport, _ = await asyncio.get_running_loop().create_unix_connection(
                lambda: replies, sock=ours)
            pems = json.dumps([_pem(k.key) for k in keys]).encode("ascii")
            started = replies.expect()
            transport.write(_LENGTH.pack(len(pems)) + pems)
            await asyncio.wait_for(started, START_SECONDS)
        except BaseException:
            ours.close()
            await _stop(proc)
            raise
        return cls(keys, proc, transport, replies)

    async def signature_headers(self, signer: DkimSigner, message: bytes, *,
                                shared_head: bytes = b"") -> bytes:
        """``signer.signature_headers(message, shared_head=…)``, the private-key
        operations made by the child (here, if it is gone)."""
        pending = signer.prepare(message, shared_head=shared_head)
        index = [self._index.get(id(p.key.key)) for p in pending]
        if not self._replies.lost and None not in index:
            request = b"".join(_INDEX.pack(i) + p.digest
                               for i, p in zip(index, pending, strict=True))
            reply = self._replies.expect()
            self._transport.write(_LENGTH.pack(len(request)) + request)
            try:
                signatures = _split(await reply)
            except ConnectionError as exc:
                log.warning("the DKIM signing process stopped (%s); signing in the worker "
                            "from now on", exc)
            else:
                self.signed += len(signatures)
                return signer.assemble(pending, signatures)
        return signer.assemble(pending, signer.signatures(pending))

    async def close(self) -> None:
        """Close the socket (the child exits at its end) and wait for the child."""
        self._transport.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except TimeoutError:
            await _stop(self.proc)


class _Replies(asyncio.Protocol):
    """Reads the child's frames and hands them to the waiting copies in order."""

    def __init__(self) -> None:
        self.waiting: deque[asyncio.Future[bytes]] = deque()
        self.buffer = bytearray()
        self.lost = False

    def expect(self) -> asyncio.Future[bytes]:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append(fut)
        return fut

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while len(buf) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buf)
            end = _LENGTH.size + size
            if len(buf) < end:
                break
            payload = bytes(buf[_LENGTH.size:end])
            del buf[:end]
            fut = self.waiting.popleft()
            if not fut.done():  # its sender was cancelled at a stop
                fut.set_result(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(str(exc) if exc else "it exited"))


def _split(payload: bytes) -> list[bytes]:
    """(``!H`` length, signature) pairs."""
    out, at = [], 0
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
    """The child: sign every digest that arrives until the worker closes the socket."""
    reader = sock.makefile("rb")

    def frame() -> bytes | None:
        head = reader.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return None
        (size,) = _LENGTH.unpack(head)
        data = reader.read(size)
        return data if len(data) == size else None

    first = frame()
    if first is None:
        return
    keys: list[PrivateKey] = []
    for pem in json.loads(first):
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise TypeError(f"not a DKIM key: {type(key).__name__}")
        keys.append(key)
    sock.sendall(_LENGTH.pack(0))
    step = _INDEX.size + _DIGEST
    while (request := frame()) is not None:
        out = []
        for at in range(0, len(request), step):
            (index,) = _INDEX.unpack_from(request, at)
            signature = sign_digest(keys[index], request[at + _INDEX.size:at + step])
            out.append(_INDEX.pack(len(signature)) + signature)
        reply = b"".join(out)
        sock.sendall(_LENGTH.pack(len(reply)) + reply)


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
