"""Fast executemany of a Core statement: compiled once, values converted in a tight loop.

SQLAlchemy's own executemany runs every bound value of every row through its type
machinery (about 10 µs a row per statement), which was a third of a million-row import.
Here a statement is compiled once for the connection's dialect; values that are the same
for every row (a timestamp, the list id, a status) are converted once; the per-row values
named in ``convert`` go through the column type's own bind processor, so the database
receives exactly what SQLAlchemy would have sent; the rest goes to the driver as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.compiler import SQLCompiler


class Executemany:
    """One Core INSERT/UPDATE run as ``cursor.executemany`` with driver-ready values."""

    def __init__(self, conn: Connection, stmt: ClauseElement, columns: Sequence[str], *,
                 constants: Mapping[str, object] | None = None,
                 convert: Iterable[str] = ()) -> None:
        dialect = conn.dialect
        self.conn = conn
        constants = dict(constants or {})
        compiled = stmt.compile(dialect=dialect, column_keys=[*columns, *constants],
                                for_executemany=True)
        assert isinstance(compiled, SQLCompiler)  # a Core INSERT/UPDATE compiles to one
        self.sql = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names: list[str] = list(compiled.positiontup or []) if dialect.positional else list(
            binds)

        def processor(name: str) -> Callable[[object], object] | None:
            return binds[name].type.dialect_impl(dialect).bind_processor(dialect)

        fixed: dict[str, object] = {}
        for name in names:
            if name in columns:
                continue
            value = constants[name] if name in constants else binds[name].effective_value
            proc = processor(name)
            fixed[name] = proc(value) if proc else value
        missing = [n for n in names if n not in fixed and n not in columns]
        if missing:
            raise ValueError(f"statement parameters without a value: {missing}")
        self.columns = list(columns)
        self.positional = dialect.positional
        self.fixed = fixed
        self.names = names
        self.convert = [(self.columns.index(c), p) for c in convert
                        if (p := processor(c)) is not None]
        # Rows arrive as tuples in ``columns`` order; the constants are appended to each
        # tuple and itemgetter picks the values in the statement's order, in C.
        width = len(self.columns)
        self.tail = tuple(fixed.values())
        slots = {**{c: i for i, c in enumerate(self.columns)},
                 **{n: width + i for i, n in enumerate(fixed)}}
        self.pick = itemgetter(*[slots[n] for n in names]) if names else None
        self.rowcount = -1  # rows the last call inserted or changed (the driver's count)

    def __call__(self, rows: Sequence[tuple[object, ...]], *, converted: bool = False) -> None:
        """Execute for ``rows``: tuples of values in the order of ``columns``
        (``converted``: the ``convert`` columns hold what their type's processor gives)."""
        if not rows:
            self.rowcount = 0
            return
        tail, pick = self.tail, self.pick
        convert = [] if converted else self.convert
        assert pick is not None
        if convert:
            done = []
            for row in rows:
                values = list(row)
                for i, proc in convert:
                    values[i] = proc(values[i])
                done.append(values)
            rows = [tuple(v) for v in done]
        if len(self.names) == 1:
            picked: list[tuple[object, ...]] = [(pick(row + tail),) for row in rows]
        else:
            picked = [pick(row + tail) for row in rows]
        params: list[tuple[object, ...]] | list[dict[str, object]] = picked
        if not self.positional:
            names = self.names
            params = [dict(zip(names, p, strict=True)) for p in picked]
        self.rowcount = self.conn.exec_driver_sql(self.sql, params).rowcount


class CopyStage:
    """A batch's rows sent to PostgreSQL with ``COPY … FROM STDIN`` into a temporary table.

    ``executemany`` still costs a parse-bind-execute per row on the server, even pipelined;
    COPY streams the batch as one operation, and a single set-based statement
    (``INSERT … SELECT … ON CONFLICT``, ``UPDATE … FROM``) then applies it. The table has the
    target columns' own types and lives on the import's connection across its batch commits
    (dropped by the next import on that connection, or when the connection closes); each
    batch replaces the previous one's rows. PostgreSQL (psycopg 3) only.
    """

    def __init__(self, conn: Connection, name: str, columns: Sequence[Column[Any]], *,
                 convert: Iterable[str] = ()) -> None:
        self.conn = conn
        self.name = name
        self.t = Table(name, MetaData(), *[Column(c.name, c.type) for c in columns],
                       prefixes=["TEMPORARY"])
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        self.t.create(conn)
        dialect = conn.dialect
        names = [c.name for c in columns]
        self.convert = [(names.index(c.name), p) for c in columns if c.name in set(convert)
                        if (p := c.type.dialect_impl(dialect).bind_processor(dialect))]
        quote = dialect.identifier_preparer.quote
        self.copy_sql = f"COPY {name} ({', '.join(quote(n) for n in names)}) FROM STDIN"
        self.loaded = False

    @property
    def c(self) -> ReadOnlyColumnCollection[str, Column[Any]]:
        return self.t.c

    def load(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Replace the table's rows with ``rows`` (tuples in the order of the columns)."""
        import psycopg  # only reached on PostgreSQL, where the driver is psycopg 3

        if self.loaded:
            self.conn.exec_driver_sql(f"TRUNCATE {self.name}")
        raw = self.conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        convert = self.convert
        with raw.cursor() as cur, cur.copy(self.copy_sql) as copy:
            for row in rows:
                if convert:
                    values = list(row)
                    for i, proc in convert:
                        values[i] = proc(values[i])
                    row = tuple(values)
                copy.write_row(row)
        self.loaded = True


class CopyApply:
    """Rows COPY'd into a ``CopyStage``, then one set-based statement that reads the stage.

    Called like ``Executemany``: with tuples in the order of the stage's columns.
    ``returned`` holds what the statement's RETURNING clause gave for the last call (if
    it has one), so a caller can skip a look-up the statement already answered.
    """

    def __init__(self, stage: CopyStage, stmt: Executable) -> None:
        self.stage = stage
        self.stmt = stmt
        self.returned: list[tuple[Any, ...]] = []

    def __call__(self, rows: Sequence[tuple[object, ...]]) -> None:
        self.returned = []
        if not rows:
            return
        self.stage.load(rows)
        result = self.stage.conn.execute(self.stmt)
        if result.returns_rows:
            self.returned = [tuple(r) for r in result]
