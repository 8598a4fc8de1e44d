"""Admission control for the sign-up pages (mailer/web/admission.py): bounded, first come
first served, a bounded queue, a bounded wait, and the 503 the pages then answer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.web.admission import Admission, Overloaded
from tests.web.conftest import BASE, add_subscriber, csrf, subscription_status


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


def test_the_sign_up_pages_take_turns_and_the_one_click_does_not(
        client: TestClient, app: FastAPI, engine: Engine, lists: dict[str, int]) -> None:
    """The form, its POST and the thanks page go through the gate: with every turn taken
    and no room to wait they answer 503 with Retry-After and store nothing, in Swedish;
    the one-click unsubscribe (and the rest of the site) does not wait for the gate."""
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "anna@hylte.se", {lid: "active"})
    form = client.get("/subscribe/medborgardialog")
    assert form.status_code == 200
    token = csrf(form.text)

    web = app.state.web
    web.signups = Admission(1, queue=0)
    web.signups._active = 1  # the one turn is held by a sign-up at work
    for r in (client.get("/subscribe/medborgardialog"),
              client.post("/subscribe/medborgardialog",
                          data={"email": "ny@hylte.se", "name": "Ny", "csrf_token": token}),
              client.get("/subscribe/medborgardialog/thanks")):
        assert r.status_code == 503, r.request.url
        assert r.headers["retry-after"].isdigit()
        assert '<html lang="sv">' in r.text
    assert subscription_status(engine, "ny@hylte.se", lid) is None

    with TestClient(app, base_url=BASE) as provider:
        r = provider.post(web.links.unsubscribe(sid, lid), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert subscription_status(engine, "anna@hylte.se", lid) == "unsubscribed"
    assert client.get("/").status_code == 200

    web.signups._active = 0  # the sign-up at work is done: the pages are open again
    r = client.post("/subscribe/medborgardialog",
                    data={"email": "ny@hylte.se", "name": "Ny", "csrf_token": token})
    assert r.status_code == 303
    assert subscription_status(engine, "ny@hylte.se", lid) == "unconfirmed"
