"""Hot queries whose SQL is built once: an ORM queryset compiled per shape, then rerun.

Django builds a query's SQL anew every time a queryset is evaluated. On the socket's
write and delivery paths that building is most of a query's cost (cProfile over a post
frame: about 18,000 Python calls, mostly the compiler, for 13 short statements).
`Prepared` builds the queryset once with stand-in values ("marks"), lets Django compile
it, records where each mark landed among the SQL's parameters, and from then on runs
that SQL with the caller's values in those places. Rows become objects through the
queryset's own iterable (model instances, select_related, annotations, values_list), so
a prepared query returns what the plain queryset returns (prefetch_related, which runs
queries of its own, is refused: such a queryset runs as it is).

The queryset is still the one place the query is written: the SQL is Django's, compiled
for the connection's backend. Nothing is cached but SQL text and parameter positions;
every call reads the database. A query whose marks did not all become parameters (Django
folded one into the SQL text) is refused when it is first compiled, and then runs as an
ordinary queryset every time.

    _ACCESS = Prepared(lambda user_id, space_id: Membership.objects.filter(
        user_id=user_id, space_id=space_id))
    memberships = _ACCESS.list(user.pk, space_id)

Values may be int, str, uuid.UUID or an aware datetime; a call's types are part of the
shape (so `build(*ids)` with `filter(pk__in=ids)` has one statement per length, up to
`shapes` of them). `shaped=True` passes `shape=` to the builder, for anything else its
SQL depends on (a slice's bounds), and keys the statement by it.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import QuerySet

_INT_MARK = 32_100  # within every integer column's range (Django drops out-of-range values)


def _mark(kind: type, i: int) -> Any:
    if kind is int:
        return _INT_MARK + i
    if kind is str:
        return f"\x00mark {i}\x00"
    if kind is uuid.UUID:
        return uuid.UUID(int=0x5EED_0000 + i)
    if kind is datetime:
        return datetime(1901, 2, 3, tzinfo=UTC) + timedelta(days=i)
    raise TypeError(f"a prepared query takes int, str, UUID or datetime values, not {kind}")


def _adapters(kind: type, connection: Any) -> list[Callable[[Any], Any]]:
    """The ways Django may have bound a value of `kind` as a parameter, most likely first."""
    if kind is uuid.UUID:
        return [lambda v: v, lambda v: v.hex]
    if kind is datetime:
        return [lambda v: v, connection.ops.adapt_datetimefield_value]
    return [lambda v: v]


class NotPreparable(Exception):
    """The queryset's SQL does not carry every mark as a parameter."""


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int, Callable[[Any], Any]], ...]  # (param position, value, adapt)
    queryset: QuerySet[Any]  # as built from the marks: its iterable makes the objects
    compiler: Any  # set up by its first compilation (select, klass_info, ...)

    def params_for(self, values: tuple[Any, ...]) -> list[Any] | None:
        """The SQL's parameters for `values`; None if an integer is out of the range its
        parameter was bound with (the ORM answers those without the driver's overflow)."""
        params = list(self.params)
        for position, index, adapt in self.slots:
            value, bound = adapt(values[index]), self.params[position]
            if isinstance(bound, int):
                low, high = _INT_RANGES.get(type(bound).__name__, _INT_RANGES["int"])
                if not low <= value <= high:
                    return None
                # Bound as the mark was (a psycopg integer wrapper stays one).
                value = type(bound)(value)
            params[position] = value
        return params


# What a parameter bound as each integer type holds (psycopg's wrappers by name).
_INT_RANGES = {
    "Int2": (-(2**15), 2**15 - 1),
    "Int4": (-(2**31), 2**31 - 1),
    "int": (-(2**63), 2**63 - 1),
}


class _Query:
    """The built query for one run: its compiler answers with the prepared SQL."""

    def __init__(self, query: Any, compiler: Any) -> None:
        self._query, self._compiler = query, compiler

    def get_compiler(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._query, name)


class _Run:
    """What a queryset's iterable reads of its queryset, for one prepared run."""

    _known_related_objects: dict[Any, Any] = {}

    def __init__(self, statement: _Statement, alias: str, params: list[Any]) -> None:
        built = statement.queryset
        compiler = copy.copy(statement.compiler)
        connection = connections[alias]  # this thread's connection
        compiler.connection = connection
        compiler.using = alias
        sql = statement.sql
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        compiler.get_converters = functools.partial(_converters, statement, compiler, connection)
        self.model, self.db, self._fields = built.model, alias, built._fields
        self.query = _Query(built.query, compiler)


class Prepared:
    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        *,
        shaped: bool = False,
        using: str = "default",
        shapes: int = 32,
    ) -> None:
        self.build = build
        self.shaped = shaped  # build(*values, shape=shape)
        self.using = using
        self.shapes = shapes  # statements kept at most (each length of an IN list is one)
        self._statements: dict[Hashable, _Statement | None] = {}
        self._lock = threading.Lock()

    def list(self, *values: Any, shape: Hashable = ()) -> list[Any]:
        """The rows of `build(*values)`, as that queryset would give them."""
        statement = self._statement(values, shape)
        params = statement.params_for(values) if statement is not None else None
        if statement is None or params is None:
            return list(self._build(values, shape))
        run = _Run(statement, self.using, params)
        return list(statement.queryset._iterable_class(run))

    def _build(self, values: tuple[Any, ...] | list[Any], shape: Hashable) -> QuerySet[Any]:
        return self.build(*values, shape=shape) if self.shaped else self.build(*values)

    def first(self, *values: Any, shape: Hashable = ()) -> Any | None:
        rows = self.list(*values, shape=shape)
        return rows[0] if rows else None

    def _statement(self, values: tuple[Any, ...], shape: Hashable) -> _Statement | None:
        connection = connections[self.using]
        key = (
            connection.vendor,
            str(connection.settings_dict["NAME"]),
            tuple(type(v) for v in values),
            shape,
        )
        try:
            return self._statements[key]
        except KeyError:
            pass
        if len(self._statements) >= self.shapes:
            return None  # rare shapes run as ordinary querysets
        try:
            statement: _Statement | None = self._compile(values, shape, connection)
        except Exception:  # noqa: BLE001 - NotPreparable, or marks the fields refuse
            statement = None  # this shape runs as an ordinary queryset: the ORM's answer
        with self._lock:
            return self._statements.setdefault(key, statement)

    def _compile(self, values: tuple[Any, ...], shape: Hashable, connection: Any) -> _Statement:
        kinds = [type(v) for v in values]
        marks = [_mark(kind, i) for i, kind in enumerate(kinds)]
        queryset = self._build(marks, shape)
        if queryset._prefetch_related_lookups:
            raise NotPreparable("prefetch_related runs queries of its own")
        compiler = queryset.query.get_compiler(using=self.using)
        sql, params = compiler.as_sql()
        slots = []
        for i, (kind, mark) in enumerate(zip(kinds, marks, strict=True)):
            found = False
            for adapt in _adapters(kind, connection):
                bound = adapt(mark)
                positions = [
                    p for p, param in enumerate(params) if _same(param, bound)
                ]
                if positions:
                    slots.extend((p, i, adapt) for p in positions)
                    found = True
                    break
            if not found:
                raise NotPreparable(f"value {i} is not a parameter of {sql!r}")
        # Each run sets its own thread's connection: a kept reference would keep the
        # compiling thread's connection open after that thread has gone.
        compiler.connection = None
        return _Statement(sql, tuple(params), tuple(slots), queryset, compiler)


_own = threading.local()  # {(statement id, column ids): (statement, connection, converters)}


def _converters(
    statement: _Statement, compiler: Any, connection: Any, expressions: list[Any]
) -> dict[int, Any]:
    """The compiler's converters for the statement's columns, worked out once per thread:
    they depend only on the columns and the backend (Django asks every field and the
    backend again for every run, a quarter of a short read's cost). Kept per thread, as
    the backend's converters belong to that thread's connection."""
    kept = getattr(_own, "converters", None)
    if kept is None:
        kept = _own.converters = {}
    key = (id(statement), *map(id, expressions))
    found = kept.get(key)
    if found is not None and found[0] is statement and found[1] is connection:
        return found[2]
    converters = type(compiler).get_converters(compiler, expressions)
    # The statement is kept with its answer: its id, and those of its columns (which it
    # holds), cannot name another object meanwhile.
    kept[key] = (statement, connection, converters)
    return converters


def _same(param: Any, bound: Any) -> bool:
    """A parameter is the mark: equal and of the same kind (so 1 never matches True)."""
    if isinstance(bound, int) and not isinstance(bound, bool):
        return isinstance(param, int) and not isinstance(param, bool) and int(param) == bound
    return type(param) is type(bound) and param == bound


# --- inserts ------------------------------------------------------------------------------


class PreparedInsert:
    """A new row of one model, inserted as `Model.save()` inserts it, with its SQL built
    once.

    `save()` of a new object builds an INSERT through the ORM's compiler at every call;
    on the socket's write path (a post inserts its message, its first revision and its
    event) that building, with the save machinery around it, cost more than the
    statement's round trip. This builds the INSERT for the model's columns once per
    database, and from then on runs it with the object's values, prepared for the
    database as the compiler prepares them (`pre_save`, then `get_db_prep_save`), and
    sets the primary key the database returns. The statement is the compiler's own.

    It does what `save()` does only where that is all `save()` would do; anything else
    goes through `save()` itself: an object that is not new or has its primary key set,
    a value that is an expression, a model with parents, an order_with_respect_to or
    listeners of pre_save/post_save, a database that cannot return the new key, a
    returned column that needs converting.
    """

    def __init__(self, model: type[Any], *, using: str = "default") -> None:
        self.model = model
        self.using = using
        self._statements: dict[tuple[str, str], _InsertStatement | None] = {}
        self._lock = threading.Lock()

    def save(self, obj: Any) -> Any:
        """Insert `obj` (a new instance of the model) and return it, saved."""
        from django.db import transaction
        from django.db.models import signals

        assert type(obj) is self.model, (type(obj), self.model)
        connection = connections[self.using]
        statement = self._statement(obj, connection)
        if (
            statement is None
            or not obj._state.adding
            or obj.pk is not None
            or signals.pre_save.has_listeners(self.model)
            or signals.post_save.has_listeners(self.model)
        ):
            obj.save(using=self.using)
            return obj
        obj._prepare_related_fields_for_save(operation_name="save")  # as save() checks
        values = [f.pre_save(obj, True) for f in statement.fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            obj.save(using=self.using)  # an expression: the compiler puts it in the SQL
            return obj
        # As save_base does for a model without parents: a failure inside an atomic block
        # (a value the field refuses, the database's refusal) marks it for rollback.
        with transaction.mark_for_rollback_on_error(using=self.using):
            params = [
                f.get_db_prep_save(v, connection)
                for f, v in zip(statement.fields, values, strict=True)
            ]
            with connection.cursor() as cursor:
                cursor.execute(statement.sql, params)
                row = connection.ops.fetch_returned_insert_columns(
                    cursor, statement.returning_params
                )
        for value, field in zip(row, statement.returning_fields, strict=True):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = self.using
        return obj

    def _statement(self, obj: Any, connection: Any) -> _InsertStatement | None:
        key = (connection.vendor, str(connection.settings_dict["NAME"]))
        try:
            return self._statements[key]
        except KeyError:
            pass
        try:
            statement: _InsertStatement | None = self._compile(obj, connection)
        except NotPreparable:
            statement = None  # save() does it, every time
        except Exception:  # noqa: BLE001 - this object's values: save() gives its error
            return None
        with self._lock:
            return self._statements.setdefault(key, statement)

    def _compile(self, obj: Any, connection: Any) -> _InsertStatement:
        from django.db.models.sql import InsertQuery

        meta = self.model._meta
        if meta.parents or meta.order_with_respect_to or meta.proxy:
            raise NotPreparable("save() writes more than one table, or reads first")
        if not connection.features.can_return_columns_from_insert:
            raise NotPreparable("the database cannot return the new key")
        # The columns and returned fields of _save_table's insert of a new object.
        fields = [
            f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
        ]
        returning_fields = list(meta.db_returning_fields)
        query = InsertQuery(self.model)
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(using=self.using, connection=connection)
        compiler.returning_fields = returning_fields
        [(sql, params)] = compiler.as_sql()
        if len(params) != len(fields) or "RETURNING" not in sql.upper():
            raise NotPreparable(f"not one parameter per column: {sql!r}")
        if compiler.returning_params:
            raise NotPreparable("the returned key comes back through per-run parameters")
        columns = [f.get_col(meta.db_table) for f in returning_fields]
        if compiler.get_converters(columns):
            raise NotPreparable("a returned column needs converting")
        return _InsertStatement(
            sql, tuple(fields), tuple(returning_fields), tuple(compiler.returning_params)
        )


@dataclass(frozen=True)
class _InsertStatement:
    sql: str
    fields: tuple[Any, ...]
    returning_fields: tuple[Any, ...]
    returning_params: tuple[Any, ...]
