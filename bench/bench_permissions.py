"""Permission-filtered list vs a superuser's plain list of the same objects, in one run.

A user sees 10,000 spaces through 50,000 guardian permission rows (5 grants each);
the baseline lists the same 10,000 spaces with no filter, in the same order (pk: a list
a page shows has an order). Goal: ratio <= 2x. The unordered superuser list is printed
too, as the cheapest list there is.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    _django.setup()

    from django.contrib.auth.models import Permission
    from django.db import connection, transaction

    from networks.models import Network, Space, SpaceUserObjectPermission
    from networks.permissions import ALL_SPACE_PERMISSIONS
    from networks.selectors import spaces_for_user
    from workspace.accounts.models import User

    with transaction.atomic():
        user = User.objects.create_user("bench@agency.example", None)
        other = User.objects.create_user("other@agency.example", None)
        network = Network.objects.create(name="Bench", slug="bench")
        Space.objects.bulk_create(
            Space(network=network, name=f"Space {i}", slug=f"s{i}") for i in range(args.objects)
        )
        perms = list(Permission.objects.filter(codename__in=ALL_SPACE_PERMISSIONS))
        spaces = list(Space.objects.values_list("pk", flat=True))
        rows = [
            SpaceUserObjectPermission(user=user, permission=p, content_object_id=s)
            for s in spaces
            for p in perms
        ]
        # Noise: another user's grants on half the spaces.
        rows += [
            SpaceUserObjectPermission(user=other, permission=perms[0], content_object_id=s)
            for s in spaces[::2]
        ]
        SpaceUserObjectPermission.objects.bulk_create(rows, batch_size=5000)
    total_rows = SpaceUserObjectPermission.objects.count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum would have done by now

    def filtered() -> int:
        return len(list(spaces_for_user(user=user).values_list("pk", "name")))

    def plain() -> int:  # the same list in the same (pk) order
        return len(list(Space.objects.order_by("pk").values_list("pk", "name")))

    def unordered() -> int:  # the cheapest list there is: no order at all
        return len(list(Space.objects.values_list("pk", "name")))

    assert filtered() == plain() == unordered() == args.objects
    timings: dict[str, list[float]] = {"filtered": [], "superuser": [], "unordered": []}
    for _ in range(args.repeat):
        for name, fn in (("filtered", filtered), ("superuser", plain), ("unordered", unordered)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    f = statistics.median(timings["filtered"]) * 1000
    s = statistics.median(timings["superuser"]) * 1000
    u = statistics.median(timings["unordered"]) * 1000
    vendor = connection.vendor
    print(f"permissions [{vendor}]: {args.objects} objects, {total_rows} permission rows")
    print(f"  superuser list, unordered   median {u:8.2f} ms")
    print(f"  superuser list, pk order    median {s:8.2f} ms")
    print(f"  permission-filtered, pk order median {f:6.2f} ms")
    print(f"  ratio filtered/superuser = {f / s:.2f}x  (goal <= 2x)")
    print(f"  (against the unordered superuser list: {f / u:.2f}x)")


if __name__ == "__main__":
    main()
