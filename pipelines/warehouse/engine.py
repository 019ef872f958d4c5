"""The SQL warehouse: an engine, Alembic migrations, a fast idempotent upsert and typed reads.

SQLite is the default; PostgreSQL (``postgresql+psycopg://``) is the production target. Writes go
through ``INSERT ... ON CONFLICT (natural key) DO UPDATE``, the reason a rerun never duplicates:
on SQLite with a driver-level executemany; on PostgreSQL with psycopg 3 the rows are first
``COPY``-ed into a temporary staging table, then moved by one ``INSERT ... SELECT ... ON
CONFLICT`` (a round trip per row is what an executemany costs there).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Table,
    create_engine,
    event,
    text,
)

from models.redaction import url_secrets
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, mask_secret, redact
from pipelines.warehouse import schema

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class WarehouseError(CreditflowError):
    """A warehouse operation failed; the message never contains credentials."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


class Warehouse:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(settings.warehouse)

    def __repr__(self) -> str:
        return f"Warehouse({mask_secret(self.url)})"

    # -- schema -------------------------------------------------------------------------------
    def init(self) -> str:
        """Create or migrate the schema to the newest revision; harmless to run twice."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        except Exception as exc:  # the URL may hold a password: never echo it
            raise WarehouseError(f"cannot initialise warehouse {self!r}: "
                                 f"{type(exc).__name__}: {_first_line(exc, self.url)}") from None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- writes -------------------------------------------------------------------------------
    def upsert(self, table: Table | str, df: pd.DataFrame, conn: Connection | None = None,
               chunk_rows: int = 50_000, update: bool = True) -> int:
        """Insert rows, replacing those whose primary key exists (or keeping them: update=False)."""
        table = _table(table)
        if df.empty:
            return 0
        cols = [c.name for c in table.columns if c.name in df.columns]
        keys = [c.name for c in table.primary_key.columns]
        if conn is None:
            with self.engine.begin() as own:
                return self.upsert(table, df, own, chunk_rows, update)
        if self.copies:
            self._copy_upsert(conn, table, df[cols], keys, update)
            return len(df)
        sql = self._upsert_sql(table, cols, keys, update)
        for start in range(0, len(df), chunk_rows):
            chunk = df.iloc[start:start + chunk_rows]
            conn.exec_driver_sql(sql, list(self._rows(table, chunk[cols])))
        return len(df)

    @property
    def copies(self) -> bool:
        """Whether upserts go through COPY and a staging table (PostgreSQL with psycopg 3)."""
        return self.dialect == "postgresql" and self.engine.dialect.driver == "psycopg"

    def _copy_upsert(self, conn: Connection, table: Table, df: pd.DataFrame,
                     keys: Sequence[str], update: bool) -> None:
        """COPY into a temporary table shaped like ``table``'s columns, then one INSERT ...
        SELECT ... ON CONFLICT. One statement cannot touch a key twice, so a key repeated in
        ``df`` keeps its last row (update) or its first (update=False), as row-by-row upserts
        would; the staging table goes with the transaction if anything fails."""
        q = self.engine.dialect.identifier_preparer.quote
        if set(keys) <= set(df.columns):  # else the database numbers the rows: all distinct
            df = df.drop_duplicates(subset=list(keys), keep="last" if update else "first")
        df = _integral(table, df)
        cols = list(df.columns)
        names, stage = ", ".join(q(c) for c in cols), q(f"stage_{table.name}")
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} AS SELECT {names} "
                             f"FROM {q(table.name)} WITH NO DATA")
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in self._rows(table, df):
                copy.write_row(row)
        conn.exec_driver_sql(self._upsert_sql(table, cols, keys, update,
                                              source=f"SELECT {names} FROM {stage}"))
        conn.exec_driver_sql(f"DROP TABLE {stage}")

    def _upsert_sql(self, table: Table, cols: Sequence[str], keys: Sequence[str],
                    update: bool, source: str | None = None) -> str:
        """INSERT ... ON CONFLICT of bound rows, or of the rows ``source`` selects."""
        mark = "?" if self.dialect == "sqlite" else "%s"
        q = self.engine.dialect.identifier_preparer.quote
        non_keys = [c for c in cols if c not in keys]
        if update and non_keys:
            action = "DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in non_keys)
        else:
            action = "DO NOTHING"
        rows = source or f"VALUES ({', '.join([mark] * len(cols))})"
        return (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) {rows} "
                f"ON CONFLICT ({', '.join(q(k) for k in keys)}) {action}")

    def _rows(self, table: Table, df: pd.DataFrame) -> Iterator[tuple]:
        """Rows as driver-native tuples: NaN -> NULL, numpy scalars -> Python, dates per dialect."""
        converted: dict[str, np.ndarray] = {}
        for name in df.columns:
            col_type = table.c[name].type
            s = df[name]
            if isinstance(col_type, (Date, DateTime)):
                if not pd.api.types.is_datetime64_any_dtype(s):  # else to_datetime only scans it
                    s = pd.to_datetime(s)
                # converted once per distinct value: a tape's 2.4M month ends hold ~60 dates,
                # and per-row strftime was a third of loading it
                codes, uniq = pd.factorize(s)
                uniq = pd.DatetimeIndex(uniq)
                if self.dialect == "sqlite":  # the text layout SQLAlchemy itself reads back
                    fmt = "%Y-%m-%d" if isinstance(col_type, Date) and not isinstance(
                        col_type, DateTime) else "%Y-%m-%d %H:%M:%S.%f"
                    distinct = np.asarray(uniq.strftime(fmt), dtype=object)
                elif isinstance(col_type, DateTime):
                    distinct = np.asarray(uniq.to_pydatetime(), dtype=object)
                else:
                    distinct = np.array(uniq.date, dtype=object)
                values = distinct[codes] if len(distinct) else np.full(len(s), None, object)
                values[codes < 0] = None
            else:
                values = s.astype(object).to_numpy()
                values[pd.isna(s).to_numpy()] = None
            converted[name] = values
        yield from zip(*converted.values(), strict=True)

    def insert(self, table: Table | str, rows: list[dict[str, Any]],
               conn: Connection | None = None) -> None:
        """Plain insert of a few rows (audit records, alerts) through SQLAlchemy's typed path."""
        table = _table(table)
        if conn is None:
            with self.engine.begin() as own:
                own.execute(table.insert(), rows)
        else:
            conn.execute(table.insert(), rows)

    # -- reads --------------------------------------------------------------------------------
    def read(self, table: Table | str, where: str | None = None,
             params: dict[str, Any] | None = None, columns: Sequence[str] | None = None,
             conn: Connection | None = None, order_by: str | None = None) -> pd.DataFrame:
        """Read a table into a DataFrame; ``where`` is SQL with named bound parameters only.
        Date and timestamp columns come back as datetime64 on every dialect."""
        table = _table(table)
        q = self.engine.dialect.identifier_preparer.quote
        names = list(columns) if columns else [c.name for c in table.columns]
        sql = f"SELECT {', '.join(q(c) for c in names)} FROM {q(table.name)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if conn is None:
            with self.engine.connect() as own:
                df = pd.read_sql_query(text(sql), own, params=params or {})
        else:
            df = pd.read_sql_query(text(sql), conn, params=params or {})
        return _typed(table, df)

    def read_columnar(self, table: Table | str, columns: Sequence[str], where: str,
                      params: dict[str, Any], order_by: str | None = None) -> pd.DataFrame:
        """``read`` at the driver's speed, for the big reads (a scoring chunk, a training
        window): on PostgreSQL with psycopg 3 the rows are ``COPY``-ed out as CSV and parsed
        by Arrow, column by column, typed from the table; elsewhere the DBAPI cursor's tuples
        go straight into columns (SQLAlchemy's Row per row and ``read_sql``'s conversions cost
        more than SQLite's own fetch). ``where`` uses ``:name`` placeholders. Date and timestamp
        columns come back as datetime64, text as object, numbers as the driver gives them."""
        table = _table(table)
        q = self.engine.dialect.identifier_preparer.quote
        sql = f"SELECT {', '.join(q(c) for c in columns)} FROM {q(table.name)} WHERE {where}"
        sql += f" ORDER BY {order_by}" if order_by else ""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if self.copies:
                df = _copy_out(raw, table, list(columns), sql, params)
            elif self.dialect == "sqlite":
                cursor = raw.cursor()
                rows = cursor.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})
                df = pd.DataFrame.from_records(rows.fetchall(), columns=list(columns),
                                               coerce_float=True)
                cursor.close()
            else:  # another driver: SQLAlchemy's typed path
                df = pd.read_sql_query(text(sql), conn, params=params)
        return _typed(table, df)

    def stream_column(self, sql: str, params: dict[str, Any],
                      block_rows: int = 50_000) -> Iterator[list[Any]]:
        """The first column of a query's rows (``:name`` placeholders), a block at a time from
        the driver's cursor (server-side on PostgreSQL): memory bounded by the block, and no
        SQLAlchemy Row per value (streaming a 1M-row day's ids that way cost 1-2 s)."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if self.dialect == "sqlite":
                cursor = raw.cursor()
                cursor.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})
            elif self.copies:
                cursor = raw.cursor(name="creditflow_stream")
                cursor.execute(_PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%")), params)
            else:  # another driver: SQLAlchemy's own streaming
                result = conn.execution_options(stream_results=True).execute(text(sql), params)
                for part in result.scalars().partitions(block_rows):
                    yield list(part)
                return
            try:
                while rows := cursor.fetchmany(block_rows):
                    yield [r[0] for r in rows]
            finally:
                cursor.close()

    def read_chunks(self, table: Table | str, where: str | None, params: dict[str, Any] | None,
                    chunk_rows: int, order_by: str) -> Iterator[pd.DataFrame]:
        """Stream a large read in chunks, so memory stays bounded by the chunk size."""
        table = _table(table)
        q = self.engine.dialect.identifier_preparer.quote
        sql = f"SELECT * FROM {q(table.name)}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order_by}"
        with self.engine.connect().execution_options(stream_results=True) as conn:
            for chunk in pd.read_sql_query(text(sql), conn, params=params or {},
                                           chunksize=chunk_rows):
                yield _typed(table, chunk)

    def count(self, table: Table | str, where: str | None = None,
              params: dict[str, Any] | None = None) -> int:
        table = _table(table)
        sql = f"SELECT COUNT(*) FROM {table.name}" + (f" WHERE {where}" if where else "")
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), params or {}).scalar_one())

    def execute(self, sql: str, params: dict[str, Any] | None = None,
                conn: Connection | None = None) -> Any:
        if conn is None:
            with self.engine.begin() as own:
                return own.execute(text(sql), params or {})
        return conn.execute(text(sql), params or {})

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache(maxsize=8)
def warehouse_for(url: str) -> Warehouse:
    """One engine per process and URL (Dask workers build their own: engines don't pickle)."""
    return Warehouse(url)


def _table(table: Table | str) -> Table:
    return schema.metadata.tables[table] if isinstance(table, str) else table


def _integral(table: Table, df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns a frame holds as floats (pandas' way to keep NaN) as whole numbers: COPY
    parses "72.0" as no integer, where a bound float parameter was cast on assignment."""
    floats = [c for c in df.columns if isinstance(table.c[c].type, Integer)
              and pd.api.types.is_float_dtype(df[c])]
    return df.assign(**{c: df[c].round().astype("Int64") for c in floats}) if floats else df


def _sqlite_value(value: Any) -> Any:
    """A parameter as SQLAlchemy stores it on SQLite (dates and times are ISO text)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _copy_out(raw: Any, table: Table, columns: list[str], sql: str,
              params: dict[str, Any]) -> pd.DataFrame:
    """``COPY (sql) TO STDOUT`` as CSV into Arrow, each column typed from the table. In PG's
    CSV an unquoted empty field is NULL and a quoted one the empty string: Arrow is told so."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: _arrow_type(table.c[c].type, pa) for c in columns}
    buffer = io.BytesIO()
    query = _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))
    with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, "
                                             "HEADER true)", params) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    parsed = pacsv.read_csv(buffer, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(
                                column_types=types, null_values=[""],
                                strings_can_be_null=True, quoted_strings_can_be_null=False))
    return parsed.to_pandas()


_PLACEHOLDER = re.compile(r"(?<![:\w]):(\w+)")  # :name, not a ::cast


def _arrow_type(col_type: Any, pa: Any) -> Any:
    if isinstance(col_type, (Date, DateTime)):
        return pa.timestamp("us")
    if isinstance(col_type, (Integer, Float)):
        return pa.float64()  # NULL-able: pandas holds them as floats anyway
    return pa.string()


def _typed(table: Table, df: pd.DataFrame) -> pd.DataFrame:
    for col in table.columns:
        if col.name in df.columns and isinstance(col.type, (Date, DateTime)):
            df[col.name] = pd.to_datetime(df[col.name], format="mixed")
    return df


def _first_line(exc: BaseException, url: str = "") -> str:
    """The error's first line, without credentials: a driver may quote the password it was
    given outside any URL form ``redact`` recognises."""
    return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                  *url_secrets(url))
