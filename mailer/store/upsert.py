"""Set-based upsert of one batch of validated subscriber rows: organisations, people, list.

Each batch costs a fixed number of statements, whatever its size: select who exists,
``INSERT … ON CONFLICT DO NOTHING RETURNING`` the new ones, ``executemany`` updates for
the changed ones, insert the subscriptions and the consent log. Core tables, not ORM
objects: a million rows must not become a million Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update

from mailer.domain.addresses import email_hash
from mailer.domain.subscriber_rows import SubscriberRow, guess_org_kind, organisation_key
from mailer.store.models import (
    ConsentEvent,
    MailingList,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

ORGS: Table = Organisation.__table__  # type: ignore[assignment]
PEOPLE: Table = Subscriber.__table__  # type: ignore[assignment]
SUBS: Table = Subscription.__table__  # type: ignore[assignment]
CONSENT: Table = ConsentEvent.__table__  # type: ignore[assignment]
ORG_CACHE_LIMIT = 50_000


@dataclass
class Counts:
    """Per row of the file, exactly one of these (or rejected/empty, counted elsewhere)."""

    imported: int = 0  # now active on the list and were not before
    new_people: int = 0  # of those: not in the database at all before
    updated: int = 0  # were active already; name, organisation, role… changed
    unchanged: int = 0  # were active already; nothing changed
    kept_unsubscribed: int = 0  # unsubscribed from this list earlier: left as they are
    organisations_created: int = 0


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class _Org:
    __slots__ = ("code", "id", "key", "name")

    def __init__(self, id: int | None, key: str, name: str, code: str | None) -> None:
        self.id, self.key, self.name, self.code = id, key, name, code


class Organisations:
    """Organisation ids by case-folded name, created on first sight; cached per import.

    The name is the identity (``Organisation.name_key``). An official code (kommunkod)
    is stored the first time it is given; a row whose code contradicts the stored one,
    or names a code another organisation has, is rejected rather than guessed at.
    """

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn, self.now = conn, now
        self.by_key: dict[str, _Org] = {}
        self.by_code: dict[str, _Org] = {}
        self.created = 0

    def resolve(self, rows: Sequence[SubscriberRow]) -> tuple[dict[int, int], dict[int, str]]:
        """Return ({line: organisation id}, {line: reason rejected}) for ``rows``."""
        if len(self.by_key) > ORG_CACHE_LIMIT:
            self.by_key.clear()
            self.by_code.clear()
        self._load(rows)
        chosen: dict[int, _Org] = {}
        problems: dict[int, str] = {}
        new: list[_Org] = []
        recode: list[_Org] = []
        for row in rows:
            if row.organisation is None:
                if row.code is None:
                    continue
                org = self.by_code.get(row.code)
                if org is None:
                    problems[row.line] = (f"code {row.code} is not a known organisation's; "
                                          "add the organisation's name in its own column")
                else:
                    chosen[row.line] = org
                continue
            key = organisation_key(row.organisation)
            org = self.by_key.get(key)
            owner = self.by_code.get(row.code) if row.code else None
            if owner is not None and owner is not org:
                problems[row.line] = (f"code {row.code} belongs to {owner.name!r}, but the row "
                                      f"names {row.organisation!r}")
                continue
            if org is None:
                org = _Org(None, key, row.organisation, row.code)
                self.by_key[key] = org
                new.append(org)
            elif row.code and org.code and org.code != row.code:
                problems[row.line] = (f"{org.name!r} has code {org.code}, but the row says "
                                      f"{row.code}")
                continue
            elif row.code and not org.code:
                org.code = row.code
                if org.id is not None:
                    recode.append(org)
            if org.code:
                self.by_code[org.code] = org
            chosen[row.line] = org
        self._write(new, recode)
        return {line: org.id for line, org in chosen.items()}, problems  # type: ignore[misc]

    def _load(self, rows: Sequence[SubscriberRow]) -> None:
        keys = {organisation_key(r.organisation) for r in rows if r.organisation}
        keys -= self.by_key.keys()
        codes = {r.code for r in rows if r.code} - self.by_code.keys()
        if not keys and not codes:
            return
        query = select(ORGS.c.id, ORGS.c.name_key, ORGS.c.name, ORGS.c.code).where(
            or_(ORGS.c.name_key.in_(keys), ORGS.c.code.in_(codes)))
        for id_, key, name, code in self.conn.execute(query):
            org = _Org(id_, key, name, code)
            self.by_key[key] = org
            if code:
                self.by_code[code] = org

    def _write(self, new: list[_Org], recode: list[_Org]) -> None:
        if new:
            stmt = dialect_insert(self.conn, ORGS).on_conflict_do_nothing(
                index_elements=["name_key"]).returning(ORGS.c.id, ORGS.c.name_key)
            ids = dict((k, i) for i, k in self.conn.execute(stmt, [
                {"name": o.name, "name_key": o.key, "code": o.code, "created_at": self.now,
                 "kind": OrgKind(guess_org_kind(o.name, o.code))} for o in new]))
            self.created += len(ids)
            missing = [o.key for o in new if o.key not in ids]
            if missing:  # created meanwhile by someone else: use theirs
                ids.update((k, i) for i, k in self.conn.execute(
                    select(ORGS.c.id, ORGS.c.name_key).where(ORGS.c.name_key.in_(missing))))
            for org in new:
                org.id = ids[org.key]
        if recode:
            self.conn.execute(
                update(ORGS).where(ORGS.c.id == bindparam("b_id")).values(code=bindparam("b_code")),
                [{"b_id": o.id, "b_code": o.code} for o in recode])


class BatchUpsert:
    """Applies batches of unique, validated rows to one list; keeps the running counts."""

    def __init__(self, conn: Connection, lst: MailingList, now: datetime, source: str) -> None:
        self.conn = conn
        self.list_id = lst.id
        self.language = lst.language
        self.now = now
        self.file = source[:200]
        self.source = f"import:{source}"[:100]
        self.orgs = Organisations(conn, now)
        self.counts = Counts()

    def apply(self, rows: Sequence[SubscriberRow]) -> dict[int, str]:
        """Upsert ``rows`` (unique addresses); return {line: reason} for rows rejected."""
        if not rows:
            return {}
        org_ids, problems = self.orgs.resolve(rows)
        if problems:
            rows = [r for r in rows if r.line not in problems]
        existing = {r.email_key: r for r in self.conn.execute(
            select(PEOPLE.c.id, PEOPLE.c.email_key, PEOPLE.c.email, PEOPLE.c.name,
                   PEOPLE.c.organisation_id, PEOPLE.c.role, PEOPLE.c.language,
                   PEOPLE.c.attributes).where(PEOPLE.c.email_key.in_([r.key for r in rows])))}
        status: dict[int, SubscriptionStatus] = {}
        if existing:
            status = dict(self.conn.execute(
                select(SUBS.c.subscriber_id, SUBS.c.status).where(
                    SUBS.c.list_id == self.list_id,
                    SUBS.c.subscriber_id.in_([p.id for p in existing.values()]))).all())
        new_rows = [r for r in rows if r.key not in existing]
        hashes = {r.key: email_hash(r.key) for r in rows}
        problems.update(self._erased(new_rows, hashes))

        changes: list[dict[str, Any]] = []
        subscribe: list[int] = []  # existing people to add to the list
        activate: list[int] = []  # existing people whose subscription was unconfirmed
        consent: list[tuple[int, str]] = []  # (subscriber id, email key)
        c = self.counts
        for row in rows:
            person = existing.get(row.key)
            if person is None:
                continue
            state = status.get(person.id)
            if state == SubscriptionStatus.unsubscribed:
                c.kept_unsubscribed += 1  # never re-subscribed, details left alone
                continue
            change = self._change(row, person, org_ids.get(row.line))
            if change is not None:
                changes.append(change)
            if state is None or state == SubscriptionStatus.unconfirmed:
                (subscribe if state is None else activate).append(person.id)
                consent.append((person.id, row.key))
                c.imported += 1
            elif change is not None:
                c.updated += 1
            else:
                c.unchanged += 1

        new_rows = [r for r in new_rows if r.line not in problems]
        new_ids = self._insert_people(new_rows, org_ids)
        retry = [r for r in new_rows if r.key not in new_ids]
        for row in new_rows:
            if row.key in new_ids:
                subscribe.append(new_ids[row.key])
                consent.append((new_ids[row.key], row.key))
                c.imported += 1
                c.new_people += 1
        self._write(changes, subscribe, activate, consent, hashes)
        if retry:  # someone else added these addresses meanwhile: now they exist
            problems.update(self.apply(retry))
        self.counts.organisations_created = self.orgs.created
        return problems

    def _erased(self, rows: Sequence[SubscriberRow], hashes: dict[str, str]) -> dict[int, str]:
        """Rows for people erased at their request: not added back by an old file."""
        if not rows:
            return {}
        found = dict(self.conn.execute(
            select(CONSENT.c.email_hash, func.max(CONSENT.c.at))
            .where(CONSENT.c.action == "erase",
                   CONSENT.c.email_hash.in_([hashes[r.key] for r in rows]))
            .group_by(CONSENT.c.email_hash)).all())
        out = {}
        for r in rows:
            when = found.get(hashes[r.key])
            if when is not None:
                day = when.date().isoformat() if hasattr(when, "date") else str(when)[:10]
                out[r.line] = (f"this person's data was erased at their request on {day}; "
                               "they must sign up again themselves")
        return out

    def _change(self, row: SubscriberRow, person: Any, org_id: int | None) -> dict[str, Any] | None:
        """The new values for an existing person, or None when the row changes nothing."""
        name = person.name if row.name is None else row.name
        role = person.role if row.role is None else row.role
        language = person.language if row.language is None else row.language
        org = person.organisation_id if org_id is None else org_id
        attrs = person.attributes or {}
        if row.attributes:
            merged = {**attrs, **row.attributes}
            attrs = merged if merged != attrs else attrs
        if (row.email, name, role, language, org, attrs) == (
                person.email, person.name, person.role, person.language,
                person.organisation_id, person.attributes or {}):
            return None
        return {"b_id": person.id, "b_email": row.email, "b_name": name, "b_role": role,
                "b_language": language, "b_org": org, "b_attrs": attrs}

    def _insert_people(self, rows: Sequence[SubscriberRow],
                       org_ids: dict[int, int]) -> dict[str, int]:
        if not rows:
            return {}
        now, language = self.now, self.language
        stmt = dialect_insert(self.conn, PEOPLE).on_conflict_do_nothing(
            index_elements=["email_key"]).returning(PEOPLE.c.id, PEOPLE.c.email_key)
        params = [{"email": r.email, "email_key": r.key, "name": r.name or "",
                   "organisation_id": org_ids.get(r.line), "role": r.role or "",
                   "language": r.language or language, "attributes": r.attributes,
                   "created_at": now, "updated_at": now} for r in rows]
        return {key: id_ for id_, key in self.conn.execute(stmt, params)}

    def _write(self, changes: list[dict[str, Any]], subscribe: list[int], activate: list[int],
               consent: list[tuple[int, str]], hashes: dict[str, str]) -> None:
        conn, now = self.conn, self.now
        if changes:
            conn.execute(
                update(PEOPLE).where(PEOPLE.c.id == bindparam("b_id")).values(
                    email=bindparam("b_email"), name=bindparam("b_name"),
                    role=bindparam("b_role"), language=bindparam("b_language"),
                    organisation_id=bindparam("b_org"), attributes=bindparam("b_attrs"),
                    updated_at=now),
                changes)
        if subscribe:
            stmt = dialect_insert(conn, SUBS).on_conflict_do_nothing(
                index_elements=["subscriber_id", "list_id"])
            conn.execute(stmt, [
                {"subscriber_id": i, "list_id": self.list_id,
                 "status": SubscriptionStatus.active, "source": self.source,
                 "created_at": now, "confirmed_at": now, "updated_at": now}
                for i in subscribe])
        if activate:
            conn.execute(
                update(SUBS).where(and_(SUBS.c.subscriber_id == bindparam("b_id"),
                                        SUBS.c.list_id == self.list_id))
                .values(status=SubscriptionStatus.active, confirmed_at=now, updated_at=now),
                [{"b_id": i} for i in activate])
        if consent:
            conn.execute(CONSENT.insert(), [
                {"subscriber_id": i, "list_id": self.list_id, "email_hash": hashes[key],
                 "action": "import", "source": self.file, "ip": None, "wording": "", "at": now}
                for i, key in consent])
