"""The search page: parse, search through the access rule, render one page of groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from networks.access import user_has_completed_mfa
from workspace.search.forms import SearchForm
from workspace.search.selectors import (
    KIND_LABELS,
    PAGE_SIZE,
    RESULT_CAP,
    ParsedQuery,
    SearchItem,
    SearchResult,
    page_items,
    parse_query,
    search,
    searchable_spaces,
)


@dataclass
class _Group:
    space: Any
    kind_label: str
    items: list[SearchItem]


def _groups(items: list[SearchItem]) -> list[_Group]:
    """Consecutive items of one space and kind (the hits arrive sorted that way)."""
    groups: list[_Group] = []
    for item in items:
        last = groups[-1] if groups else None
        if last is None or last.space.pk != item.space.pk or last.items[0].kind != item.kind:
            groups.append(_Group(item.space, str(KIND_LABELS[item.kind]), []))
        groups[-1].items.append(item)
    return groups


def _with(params: QueryDict, **changes: str) -> str:
    """The current search with some filters set (a facet link)."""
    query = params.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    if not user_has_completed_mfa(request.user):  # the MFA middleware sends them to setup
        raise PermissionDenied
    spaces = list(searchable_spaces(user=request.user))
    form = SearchForm(request.GET or None, spaces=spaces)
    query, result = ParsedQuery(), SearchResult()
    if form.is_valid():
        query = parse_query(form.cleaned_data["q"])
        result = search(user=request.user, query=query, filters=form.filters())
    page = Paginator(result.hits, PAGE_SIZE).get_page(request.GET.get("page"))
    items = page_items(
        user=request.user,
        query=query,
        hits=list(page.object_list),
        visible=result.visible,
        spaces=result.spaces,
    )
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "search/results.html",
        {
            "form": form,
            "query": query,
            "searched": bool(query.terms),
            "result": result,
            "page": page,
            "items": items,
            "total": len(result.hits),
            "cap": RESULT_CAP,
            "groups": _groups(items),
            "kind_facets": [
                (label, n, _with(params, kind=str(kind)))
                for kind, label in KIND_LABELS.items()
                if (n := result.by_kind[kind])
            ],
            "space_facets": [
                (result.spaces[sid].name, n, _with(params, space=str(sid)))
                for sid, n in sorted(
                    result.by_space.items(), key=lambda kv: result.spaces[kv[0]].name
                )
            ],
            "has_spaces": bool(spaces),
            "params": params.urlencode(),
        },
    )
