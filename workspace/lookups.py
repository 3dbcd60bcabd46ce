"""`field__any_of=values`: membership in a long list, as one array parameter on PostgreSQL.

`field__in=values` puts one placeholder per value into the SQL. For the sockets' access
refresh (every second, the sessions, users and memberships of every socket of a process:
hundreds of values) that meant a statement text per list length, each built by the ORM
(the prepared statements keep only the first few lengths) and each split again by
psycopg to bind its parameters: a third of a 500-socket refresh's 33 ms. On PostgreSQL
`any_of` is `field = ANY(%s)` with the list as one array parameter, so the statement is
the same for any number of values; on other databases it is `IN (...)`, as `in` would be.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[Any]:
        field = self.lhs.output_field
        return [field.get_prep_value(value) for value in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        if not values:
            raise EmptyResultSet  # in nothing, as `in` does: no row, no query
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


# Every field, foreign keys too (their own lookup registry does not inherit Field's).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
