"""Lists on both databases: create, counts, clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mailer.errors import MailerError, NotFound
from mailer.services.lists import counts_of, create_list, get_list, list_counts
from mailer.store.db import transaction


def test_create_and_count(engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
    with transaction(engine) as s:
        (row,) = list_counts(s)
        assert (row.slug, row.total) == ("medborgardialog", 0)
        assert get_list(s, "medborgardialog").name.startswith("Nyhetsbrev")
        assert counts_of(s, "medborgardialog") == row


def test_errors(engine: Engine) -> None:
    with transaction(engine) as s:
        create_list(s, "a", "A")
    with pytest.raises(MailerError, match="exists already"), transaction(engine) as s:
        create_list(s, "a", "A")
    with pytest.raises(MailerError, match="not valid"), transaction(engine) as s:
        create_list(s, "Ä b", "A")
    with pytest.raises(NotFound, match="known lists: a"), transaction(engine) as s:
        get_list(s, "nope")
    with pytest.raises(NotFound, match="known lists: a"), transaction(engine) as s:
        counts_of(s, "nope")
