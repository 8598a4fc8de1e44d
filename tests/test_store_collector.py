"""The garbage collector's thresholds during bulk work: raised inside, given back after,
also when imports overlap in one process or an import fails."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailer.errors import MailerError
from mailer.services.lists import create_list
from mailer.store import collector
from mailer.store.collector import BULK_THRESHOLD, fewer_collections
from mailer.store.db import transaction
from mailer.store.importer import import_subscribers


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Each test starts from known thresholds and leaves the process's own behind."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_raised_inside_and_given_back(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
    assert gc.get_threshold() == thresholds


def test_given_back_after_an_error(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a batch failed")
    assert gc.get_threshold() == thresholds


def test_overlapping_blocks_give_back_when_the_last_ends(
        thresholds: tuple[int, int, int]) -> None:
    """Two imports in one server process (threads): the first to end must not lower the
    threshold under the other; the last gives the process's own back."""
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with fewer_collections():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with fewer_collections():
        t.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == BULK_THRESHOLD  # the other import still runs
    release.set()
    t.join(10)
    assert gc.get_threshold() == thresholds
    assert collector._users == 0


def test_a_disabled_or_higher_threshold_is_left_alone() -> None:
    gc.set_threshold(0, 10, 10)  # 0: the process turned automatic collection off
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    gc.set_threshold(BULK_THRESHOLD * 2, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == BULK_THRESHOLD * 2
    assert gc.get_threshold()[0] == BULK_THRESHOLD * 2


def test_an_import_gives_the_thresholds_back(engine: Engine, tmp_path: Path,
                                             thresholds: tuple[int, int, int]) -> None:
    with transaction(engine) as s:
        create_list(s, "nyhetsbrev", "Nyhetsbrev")
    good = tmp_path / "people.csv"
    good.write_text("email;name\nasa@example.org;Åsa\n", encoding="utf-8")
    assert import_subscribers(engine, good, "nyhetsbrev").counts.imported == 1
    assert gc.get_threshold() == thresholds
    with pytest.raises(MailerError):
        import_subscribers(engine, good, "no-such-list")
    assert gc.get_threshold() == thresholds
