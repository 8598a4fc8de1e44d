"""Admission control for the sign-up POST (mailer/web/admission.py): bounded, first come
first served, a bounded queue, a bounded wait, and the 503 the form then answers."""

from __future__ import annotations

import asyncio

import pytest

from mailer.web.admission import Admission, Overloaded


def test_at_most_limit_at_once_and_in_arrival_order() -> None:
    async def main() -> list[str]:
        gate = Admission(2)
        release = asyncio.Event()
        order: list[str] = []
        peak = 0

        async def one(name: str) -> None:
            nonlocal peak
            async with gate.turn():
                order.append(name)
                peak = max(peak, gate.active)
                await release.wait()

        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(one(f"r{i}")))
            await asyncio.sleep(0)  # arrive one after the other
        await asyncio.sleep(0.01)
        assert order == ["r0", "r1"] and gate.waiting == 4
        release.set()
        await asyncio.gather(*tasks)
        assert peak == 2 and gate.active == 0 and gate.waiting == 0
        return order

    assert asyncio.run(main()) == [f"r{i}" for i in range(6)]


def test_a_newcomer_does_not_pass_the_queue() -> None:
    async def main() -> list[str]:
        gate = Admission(1)
        order: list[str] = []
        first_in = asyncio.Event()
        go = asyncio.Event()

        async def holder() -> None:
            async with gate.turn():
                first_in.set()
                await go.wait()

        async def one(name: str) -> None:
            async with gate.turn():
                order.append(name)

        h = asyncio.create_task(holder())
        await first_in.wait()
        waiter = asyncio.create_task(one("queued"))
        await asyncio.sleep(0)
        go.set()
        await h  # the turn is handed to "queued" as the holder leaves ...
        late = asyncio.create_task(one("late"))  # ... so this one waits behind it
        await asyncio.gather(waiter, late)
        return order

    assert asyncio.run(main()) == ["queued", "late"]


def test_a_full_queue_and_a_long_wait_are_refused_and_leave_nothing_behind() -> None:
    async def main() -> None:
        gate = Admission(1, queue=1, wait=0.05)
        go = asyncio.Event()

        async def hold() -> None:
            async with gate.turn():
                await go.wait()

        h = asyncio.create_task(hold())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(hold())
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):  # the queue (1) is full
            async with gate.turn():
                pass
        with pytest.raises(Overloaded):  # waited past 0.05 s
            await waiting
        assert gate.waiting == 0 and gate.active == 1
        go.set()
        await h
        assert gate.active == 0
        async with gate.turn():  # free again
            assert gate.active == 1

    asyncio.run(main())


def test_a_cancelled_waiter_gives_its_place_up() -> None:
    async def main() -> None:
        gate = Admission(1)
        go = asyncio.Event()
        got: list[str] = []

        async def one(name: str) -> None:
            async with gate.turn():
                got.append(name)
                await go.wait()

        h = asyncio.create_task(one("holder"))
        await asyncio.sleep(0)
        gone = asyncio.create_task(one("gone"))  # e.g. the client closed the connection
        nxt = asyncio.create_task(one("next"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        go.set()
        await asyncio.gather(h, nxt)
        assert got == ["holder", "next"] and gate.active == 0 and gate.waiting == 0

    asyncio.run(main())
