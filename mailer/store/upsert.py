"""Set-based upsert of one batch of validated subscriber rows: organisations, people, list.

Each batch costs a fixed number of statements, whatever its size: select who exists,
insert the new ones (``ON CONFLICT DO NOTHING``), update the changed ones, insert the
subscriptions and the consent log. On SQLite each write is one ``executemany``; on
PostgreSQL the batch's values are streamed with ``COPY`` into temporary tables and each
write is one set-based ``INSERT … SELECT`` / ``UPDATE … FROM`` — the new people, their
subscriptions and consent rows one statement together (about 3× less client CPU; the
same rows, ids included, either way, tested). Core tables, not ORM objects: a million rows must not
become a million Python objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from mailer.domain.addresses import email_hash
from mailer.domain.findings import Msg, msg
from mailer.domain.subscriber_rows import SubscriberRow, guess_org_kind, organisation_key
from mailer.store.bulk import CopyApply, CopyStage, Executemany
from mailer.store.db import WalCheckpointer
from mailer.store.models import (
    ConsentEvent,
    MailingList,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

# One step of a batch's writes, called with tuples of values: executemany or COPY + SQL.
Writer = Callable[[Sequence[tuple[object, ...]]], None]

ORGS = cast(Table, Organisation.__table__)
PEOPLE = cast(Table, Subscriber.__table__)
SUBS = cast(Table, Subscription.__table__)
CONSENT = cast(Table, ConsentEvent.__table__)
ORG_CACHE_LIMIT = 50_000
SQLITE_CACHE_KIB = 65_536
PG_TEMP_BUFFERS = "128MB"


@dataclass
class Counts:
    """Per row of the file, exactly one of these (or rejected/empty, counted elsewhere)."""

    imported: int = 0  # now active on the list and were not before
    new_people: int = 0  # of those: not in the database at all before
    updated: int = 0  # were active already; name, organisation, role… changed
    unchanged: int = 0  # were active already; nothing changed
    kept_unsubscribed: int = 0  # unsubscribed from this list earlier: left as they are
    organisations_created: int = 0


def dialect_insert(conn: Connection, table: Table) -> PgInsert | SqliteInsert:
    """``INSERT`` with ``on_conflict_do_nothing`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def _written(org: _Org) -> int:
    assert org.id is not None, "organisations are written before their ids are read"
    return org.id


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
                    problems[row.line] = msg(
                        "code %(code)s is not a known organisation's; add the "
                        "organisation's name in its own column", code=row.code)
                else:
                    chosen[row.line] = org
                continue
            key = organisation_key(row.organisation)
            org = self.by_key.get(key)
            owner = self.by_code.get(row.code) if row.code else None
            if owner is not None and owner is not org:
                problems[row.line] = msg(
                    "code %(code)s belongs to %(owner)r, but the row names %(named)r",
                    code=row.code, owner=owner.name, named=row.organisation)
                continue
            if org is None:
                org = _Org(None, key, row.organisation, row.code)
                self.by_key[key] = org
                new.append(org)
            elif row.code and org.code and org.code != row.code:
                problems[row.line] = msg(
                    "%(organisation)r has code %(code)s, but the row says %(given)s",
                    organisation=org.name, code=org.code, given=row.code)
                continue
            elif row.code and not org.code:
                org.code = row.code
                if org.id is not None:
                    recode.append(org)
            if org.code:
                self.by_code[org.code] = org
            chosen[row.line] = org
        self._write(new, recode)
        return {line: _written(org) for line, org in chosen.items()}, problems

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

    def __init__(self, conn: Connection, lst: MailingList, now: datetime, source: str, *,
                 copy: bool | None = None) -> None:
        self.conn = conn
        self.list_id = lst.id
        self.language = lst.language
        self.now = now
        self.orgs = Organisations(conn, now)
        self.checkpointer: WalCheckpointer | None = None
        self._insert_new: CopyApply | None = None  # COPY: new people, subscribed, logged
        if conn.dialect.name == "sqlite":
            # A million rows touch far more index pages than the default 2 MB page cache
            # holds; spilling them to the WAL mid-transaction and reading them back
            # doubled the time. 64 MB, for this connection, until the import ends.
            self._cache_size = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            database = conn.engine.url.database or ""
            if database not in ("", ":memory:"):
                # Checkpoints in a thread of their own (see WalCheckpointer), not in
                # each batch's commit.
                self._autocheckpoint = int(conn.exec_driver_sql(
                    "PRAGMA wal_autocheckpoint").scalar_one())
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                self.checkpointer = WalCheckpointer(database)
        # PostgreSQL: each batch is COPY'd into temporary tables and applied with one
        # set-based statement per step; SQLite (in-process, no COPY) runs executemany.
        self.copy = conn.dialect.name == "postgresql" if copy is None else copy
        if conn.dialect.name == "postgresql" and not conn.exec_driver_sql(
                "SELECT pg_my_temp_schema() <> 0").scalar_one():
            # The seen-rows table of a million rows and its index outgrow the default
            # 8 MB of buffers for temporary tables; past it every insert reads and
            # writes pages of a temporary file. The setting can only change before the
            # session's first temporary table (a pooled connection keeps it; memory is
            # taken as used).
            conn.exec_driver_sql(f"SET temp_buffers = '{PG_TEMP_BUFFERS}'")
        self.seen = SeenRows(conn, copy=self.copy)
        self.counts = Counts()
        self.erased_hashes = self._erased_hashes()
        self.suppressed = self._suppressed()
        self.wants_json = False  # whether rows' attributes_json is used (executemany)
        if self.copy:
            self._copy_statements(lst, now, source)
            return
        stamp = {"created_at": now, "updated_at": now}
        self._insert_people = Executemany(
            conn, dialect_insert(conn, PEOPLE).on_conflict_do_nothing(index_elements=["email_key"]),
            ["email", "email_key", "name", "organisation_id", "role", "language", "attributes"],
            constants=stamp, convert=["attributes"])
        # The workers' JSON text of the attributes is what the column's type would send
        # (json.dumps, no serializer of our own): then it goes to the driver as it is.
        sample = {"Telefon": "070-174 06 05", "Anteckning": 'å "x"\\'}
        process = PEOPLE.c.attributes.type.dialect_impl(conn.dialect).bind_processor(
            conn.dialect)
        self._json_ready = process is not None and process(sample) == json.dumps(sample)
        self.wants_json = self._json_ready
        self._update_people: Writer = Executemany(
            conn, update(PEOPLE).where(PEOPLE.c.id == bindparam("b_id")).values(
                email=bindparam("b_email"), name=bindparam("b_name"), role=bindparam("b_role"),
                language=bindparam("b_language"), organisation_id=bindparam("b_org"),
                attributes=bindparam("b_attrs", type_=PEOPLE.c.attributes.type),
                updated_at=now),
            ["b_id", "b_email", "b_name", "b_role", "b_language", "b_org", "b_attrs"],
            convert=["b_attrs"])
        self._subscribe: Writer = Executemany(
            conn, dialect_insert(conn, SUBS).on_conflict_do_nothing(
                index_elements=["subscriber_id", "list_id"]),
            ["subscriber_id"],
            constants={"list_id": lst.id, "status": SubscriptionStatus.active,
                       "source": f"import:{source}"[:100], "confirmed_at": now, **stamp})
        self._activate: Writer = Executemany(
            conn, update(SUBS).where(and_(SUBS.c.subscriber_id == bindparam("b_id"),
                                          SUBS.c.list_id == lst.id))
            .values(status=SubscriptionStatus.active, confirmed_at=now, updated_at=now),
            ["b_id"])
        self._log_consent: Writer = Executemany(
            conn, CONSENT.insert(), ["subscriber_id", "email_hash"],
            constants={"list_id": lst.id, "action": "import", "source": source[:200],
                       "ip": None, "wording": "", "at": now})

    def _copy_statements(self, lst: MailingList, now: datetime, source: str) -> None:
        """The same five writes as COPY into a stage + one statement each (PostgreSQL)."""
        conn = self.conn

        def const(value: object, column: Column[Any]) -> BindParameter[Any]:
            return literal(value, column.type)

        p, sc, cc = PEOPLE.c, SUBS.c, CONSENT.c
        new = CopyStage(conn, "mailer_import_new", [
            Column("line", Integer), p.email, p.email_key, p.name, p.organisation_id, p.role,
            p.language, p.attributes, cc.email_hash], convert=["attributes"])
        n = new.c
        people = [n.email, n.email_key, n.name, n.organisation_id, n.role, n.language,
                  n.attributes]
        made = pg_insert(PEOPLE).from_select(
            [*(c.name for c in people), "created_at", "updated_at"],
            select(*people, const(now, p.created_at), const(now, p.updated_at))
            .order_by(n.line), include_defaults=False
        ).on_conflict_do_nothing(index_elements=["email_key"]).returning(
            p.id, p.email_key).cte("made")
        subscribed = pg_insert(SUBS).from_select(
            ["subscriber_id", "list_id", "status", "source", "confirmed_at", "created_at",
             "updated_at"],
            select(made.c.id, const(lst.id, sc.list_id),
                   const(SubscriptionStatus.active, sc.status),
                   const(f"import:{source}"[:100], sc.source), const(now, sc.confirmed_at),
                   const(now, sc.created_at), const(now, sc.updated_at))
            .order_by(made.c.id), include_defaults=False).cte("subscribed")
        logged = CONSENT.insert().from_select(
            ["subscriber_id", "email_hash", "list_id", "action", "source", "ip", "wording",
             "at"],
            select(made.c.id, n.email_hash, const(lst.id, cc.list_id),
                   const("import", cc.action), const(source[:200], cc.source),
                   const(None, cc.ip), const("", cc.wording), const(now, cc.at))
            .join_from(made, new.t, n.email_key == made.c.email_key)
            .order_by(made.c.id), include_defaults=False).cte("logged")
        # New people, their subscriptions (no conflict is possible: the ids are this
        # statement's own) and consent rows in one statement; it returns the lines that
        # ON CONFLICT skipped (a web sign-up in between), usually none.
        self._insert_new = CopyApply(new, select(n.line).where(
            ~select(made.c.id).where(made.c.email_key == n.email_key).exists())
            .add_cte(subscribed, logged))
        changed = CopyStage(conn, "mailer_import_changed", [
            p.id, p.email, p.name, p.role, p.language, p.organisation_id, p.attributes],
            convert=["attributes"])
        ch = changed.c
        self._update_people = CopyApply(changed, update(PEOPLE).where(p.id == ch.id).values(
            email=ch.email, name=ch.name, role=ch.role, language=ch.language,
            organisation_id=ch.organisation_id, attributes=ch.attributes, updated_at=now))
        ids = CopyStage(conn, "mailer_import_ids", [SUBS.c.subscriber_id])
        self._subscribe = CopyApply(ids, pg_insert(SUBS).from_select(
            ["subscriber_id", "list_id", "status", "source", "confirmed_at", "created_at",
             "updated_at"],
            select(ids.c.subscriber_id, const(lst.id, sc.list_id),
                   const(SubscriptionStatus.active, sc.status),
                   const(f"import:{source}"[:100], sc.source), const(now, sc.confirmed_at),
                   const(now, sc.created_at), const(now, sc.updated_at)),
            include_defaults=False).on_conflict_do_nothing(
                index_elements=["subscriber_id", "list_id"]))
        self._activate = CopyApply(ids, update(SUBS).where(and_(
            sc.subscriber_id == ids.c.subscriber_id, sc.list_id == lst.id)).values(
                status=SubscriptionStatus.active, confirmed_at=now, updated_at=now))
        consent = CopyStage(conn, "mailer_import_consent",
                            [CONSENT.c.subscriber_id, CONSENT.c.email_hash])
        self._log_consent = CopyApply(consent, CONSENT.insert().from_select(
            ["subscriber_id", "email_hash", "list_id", "action", "source", "ip", "wording",
             "at"],
            select(*consent.c, const(lst.id, cc.list_id), const("import", cc.action),
                   const(source[:200], cc.source), const(None, cc.ip), const("", cc.wording),
                   const(now, cc.at)), include_defaults=False))

    def apply(self, rows: Sequence[SubscriberRow]) -> dict[int, str]:
        """Upsert ``rows`` (valid, unique within the batch, in file order).

        Returns {line: reason} for the rows rejected: duplicates of rows in earlier
        batches, contradictory organisation codes, people erased at their request.
        """
        if not rows:
            return {}
        first = rows[0].line
        problems = self.seen.add(rows, first)
        if problems:
            rows = [r for r in rows if r.line not in problems]
        org_ids, org_problems = self.orgs.resolve(rows)
        if org_problems:
            problems.update(org_problems)
            rows = [r for r in rows if r.line not in org_problems]
        existing = self.seen.people(first, self.list_id)

        changes: list[tuple[object, ...]] = []
        subscribe: list[int] = []  # existing people to add to the list
        activate: list[int] = []  # existing people whose subscription was unconfirmed
        consent: list[tuple[int, str]] = []  # (subscriber id, hash of the address)
        new_rows: list[SubscriberRow] = []
        c = self.counts
        for row in rows:
            person = existing.get(row.line)
            blocked = self.suppressed.get(_hash(row)) if self.suppressed else None
            if blocked is not None:
                # Never (re-)activated by an import: a bounce or complaint put it there.
                why = Msg(blocked, {})  # its kind, in the admin's catalogue
                problems[row.line] = msg(
                    "the address is on the suppression list (%(why)s); not subscribed. "
                    "Remove it first if it works again: mailer suppressions remove EMAIL",
                    why=why).with_admin(msg(
                        "the address is on the suppression list (%(why)s); not subscribed. "
                        "Remove it on the Suppressions page first if it works again",
                        why=why))
                continue
            if person is None:
                erased = (self.erased_hashes.get(_hash(row))
                          if self.erased_hashes else None)
                if erased is not None:
                    problems[row.line] = msg(
                        "this person's data was erased at their request on %(day)s; "
                        "they must sign up again themselves", day=erased)
                else:
                    new_rows.append(row)
                continue
            state = person.status
            if state == SubscriptionStatus.unsubscribed:
                c.kept_unsubscribed += 1  # never re-subscribed, details left alone
                continue
            change = self._change(row, person, org_ids.get(row.line))
            if change is not None:
                changes.append(change)
            if state is None or state == SubscriptionStatus.unconfirmed:
                (subscribe if state is None else activate).append(person.id)
                consent.append((person.id, _hash(row)))
                c.imported += 1
            elif change is not None:
                c.updated += 1
            else:
                c.unchanged += 1

        if new_rows and self._insert_new is not None:
            # COPY: the existing people's writes first, then one statement inserts the new
            # people, their subscriptions and consent rows (ids in the same order as the
            # executemany path below: existing people's rows, then the new in file order).
            self._update_people(changes)
            self._subscribe([(i,) for i in subscribe])
            self._activate([(i,) for i in activate])
            self._log_consent(consent)
            subscribe, consent, changes, activate = [], [], [], []
            language = self.language
            self._insert_new([
                (r.line, r.email, r.key, r.name or "", org_ids.get(r.line), r.role or "",
                 r.language or language, r.attributes, _hash(r)) for r in new_rows])
            # Someone may have added an address between our look-up and the insert (the
            # web form): ON CONFLICT skipped it, the statement returned its line, and this
            # finds their row to subscribe (ON CONFLICT: they may be on the list) with
            # consent logged, as below.
            skipped = {line for line, in self._insert_new.returned}
            if skipped:
                ids = self.seen.ids(first)
                for row in new_rows:
                    if row.line in skipped:
                        subscribe.append(ids[row.line])
                        consent.append((ids[row.line], _hash(row)))
            c.imported += len(new_rows)
            c.new_people += len(new_rows)
        elif new_rows:
            language = self.language
            if self._json_ready and all(r.attributes_json is not None for r in new_rows):
                self._insert_people([
                    (r.email, r.key, r.name or "", org_ids.get(r.line), r.role or "",
                     r.language or language, r.attributes_json) for r in new_rows],
                    converted=True)
            else:
                self._insert_people([
                    (r.email, r.key, r.name or "", org_ids.get(r.line), r.role or "",
                     r.language or language, r.attributes) for r in new_rows])
            # Someone may have added an address between our look-up and the insert (on
            # PostgreSQL): ON CONFLICT skipped it, and this finds their row.
            ids = self._inserted_ids(new_rows) or self.seen.ids(first)
            for row in new_rows:
                subscribe.append(ids[row.line])
                consent.append((ids[row.line], _hash(row)))
            c.imported += len(new_rows)
            c.new_people += len(new_rows)
        self._update_people(changes)
        self._subscribe([(i,) for i in subscribe])
        self._activate([(i,) for i in activate])
        self._log_consent(consent)
        self.counts.organisations_created = self.orgs.created
        return problems

    def _inserted_ids(self, rows: Sequence[SubscriberRow]) -> dict[int, int] | None:
        """SQLite: {line: id} of ``rows`` just inserted, without a look-up, when every one
        of them was inserted (None otherwise: then ``SeenRows.ids`` finds them).

        The batch holds SQLite's write lock from its look-up to its commit, so nobody
        else inserts meanwhile; ``subscribers.id`` is AUTOINCREMENT, so each insert takes
        the next id: the n rows got the n ids up to the connection's last insert rowid."""
        if self.conn.dialect.name != "sqlite":
            return None
        if self._insert_people.rowcount != len(rows):
            return None
        last = int(self.conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
        first = last - len(rows) + 1
        # Checked at both ends (two look-ups by id), to be sure rather than trusting it.
        ends = dict(self.conn.execute(select(PEOPLE.c.id, PEOPLE.c.email_key).where(
            PEOPLE.c.id.in_([first, last]))).all())
        if ends.get(first) != rows[0].key or ends.get(last) != rows[-1].key:
            return None
        return {row.line: first + i for i, row in enumerate(rows)}

    def finish(self) -> None:
        """Drop the temporary table (on success; a rollback removes it too)."""
        self.seen.drop()

    def committed(self, rows: int) -> None:
        """Called after each commit of ``rows`` (SQLite: checkpoint it in the background)."""
        if self.checkpointer is not None:
            self.checkpointer.committed(rows)

    def restore(self) -> None:
        """Give the pooled connection its page cache size and automatic checkpoints back,
        after the last background checkpoint (success or failure)."""
        if self.checkpointer is not None:
            self.checkpointer.close()
            self.checkpointer = None
            with suppress(SQLAlchemyError):
                self.conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
        if self.conn.dialect.name == "sqlite":
            with suppress(SQLAlchemyError):  # never hide the error that got us here
                self.conn.exec_driver_sql(f"PRAGMA cache_size={self._cache_size}")


    def _suppressed(self) -> dict[str, str]:
        """{address hash: reason} of the suppression list (loaded once per import)."""
        table = cast(Table, Suppression.__table__)
        return {h: str(r) for h, r in self.conn.execute(
            select(table.c.email_hash, table.c.reason))}

    def _erased_hashes(self) -> dict[str, str]:
        """{address hash: day} of people erased at their request (few: loaded once)."""
        rows = self.conn.execute(
            select(CONSENT.c.email_hash, func.max(CONSENT.c.at))
            .where(CONSENT.c.action == "erase").group_by(CONSENT.c.email_hash))
        return {h: when.date().isoformat() for h, when in rows}

    # ``person``: a row of ``SeenRows.people`` (Any: its Row type differs in SQLAlchemy 2.0/2.1)
    def _change(self, row: SubscriberRow, person: Any,
                org_id: int | None) -> tuple[object, ...] | None:
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
        return (person.id, row.email, name, role, language, org, attrs)


def _hash(row: SubscriberRow) -> str:
    """The consent log's hash of the row's address (the worker's, or computed here)."""
    return row.key_hash or email_hash(row.key)


def duplicate_reason(line: int) -> Msg:
    return msg("duplicate of line %(line)s (the same address; upper/lower case does not "
               "matter)", line=line)


class SeenRows:
    """Every accepted row of this import (line, address key) in a temporary table.

    It finds duplicates across batches without a Python set of a million addresses
    (~150 MB). Each batch's look-ups are joins (not IN lists of thousands of parameters,
    which SQLAlchemy renders slowly): on SQLite of this table's ``line >= first line of
    the batch`` (its rowid), on PostgreSQL of the batch's own COPY stage.
    It lives on the import's connection, across its batch commits (dropped by the next
    import on the connection).
    """

    def __init__(self, conn: Connection, *, copy: bool = False) -> None:
        self.conn = conn
        # executemany (SQLite): ``line`` is the key (SQLite's rowid, free), and a batch's
        # rows are ``line >= first``. COPY (PostgreSQL): a batch's rows are its stage
        # (``mailer_import_batch``, this batch only), so ``line`` needs no index: a range
        # on a temporary table without statistics was a sequential scan of every row
        # seen so far, and the join on it one of all subscribers, per batch (O(n²)).
        self.t = Table("mailer_import_rows", MetaData(),
                       Column("line", Integer, primary_key=not copy, autoincrement=False,
                              nullable=False),
                       Column("key", String(320), nullable=False, unique=True),
                       prefixes=["TEMPORARY"])
        conn.execute(text("DROP TABLE IF EXISTS mailer_import_rows"))
        self.t.create(conn)
        self._insert: Writer
        self.batch: Table | None = None
        if copy:
            stage = CopyStage(conn, "mailer_import_batch", [self.t.c.line, self.t.c.key])
            self.batch = stage.t
            self._insert = CopyApply(stage, pg_insert(self.t).from_select(
                ["line", "key"], select(*stage.c)).on_conflict_do_nothing(
                    index_elements=["key"]).returning(self.t.c.line))
        else:
            self._insert = Executemany(
                conn, dialect_insert(conn, self.t).on_conflict_do_nothing(
                    index_elements=["key"]), ["line", "key"])

    def add(self, rows: Sequence[SubscriberRow], first: int) -> dict[int, str]:
        """Remember ``rows``; return {line: reason} for those seen in an earlier batch."""
        t = self.t
        self._insert([(r.line, r.key) for r in rows])
        ours: set[int]
        if isinstance(self._insert, CopyApply):  # its INSERT returned the lines it kept
            ours = {line for line, in self._insert.returned}
            if len(ours) == len(rows):
                return {}
        else:
            kept = self.conn.execute(select(func.count()).where(t.c.line >= first)
                                     ).scalar_one()
            if kept == len(rows):
                return {}
            ours = set(self.conn.execute(select(t.c.line).where(t.c.line >= first)).scalars())
        dups = [r for r in rows if r.line not in ours]
        earlier: dict[str, int] = {key: line for key, line in self.conn.execute(
            select(t.c.key, t.c.line).where(t.c.key.in_([r.key for r in dups])))}
        return {r.line: duplicate_reason(earlier[r.key]) for r in dups}

    def _batch(self, first: int) -> tuple[Table, ColumnElement[bool]]:
        """The rows of the batch starting at ``first``: its stage (COPY), or by line."""
        if self.batch is not None:  # every row of the stage (duplicates too: never asked for)
            return self.batch, true()
        return self.t, self.t.c.line >= first

    def people(self, first: int, list_id: int) -> dict[int, Any]:  # Any: see _change
        """{line: the person already in the database, with their status on the list}."""
        t, where = self._batch(first)
        query = (select(t.c.line, PEOPLE.c.id, PEOPLE.c.email, PEOPLE.c.name,
                        PEOPLE.c.organisation_id, PEOPLE.c.role, PEOPLE.c.language,
                        PEOPLE.c.attributes, SUBS.c.status)
                 .select_from(t.join(PEOPLE, PEOPLE.c.email_key == t.c.key)
                              .outerjoin(SUBS, and_(SUBS.c.subscriber_id == PEOPLE.c.id,
                                                    SUBS.c.list_id == list_id)))
                 .where(where))
        return {r.line: r for r in self.conn.execute(query)}

    def ids(self, first: int) -> dict[int, int]:
        """{line: subscriber id} for the rows of the batch starting at ``first``."""
        t, where = self._batch(first)
        return dict(self.conn.execute(
            select(t.c.line, PEOPLE.c.id).select_from(
                t.join(PEOPLE, PEOPLE.c.email_key == t.c.key)).where(where)).all())

    def drop(self) -> None:
        self.t.drop(self.conn)
