"""messaging.forms.CheckboxList renders exactly what Django's CheckboxSelectMultiple does."""

from __future__ import annotations

import pytest
from django import forms
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.forms import CheckboxList

LABELS = ["Ana", '<script>alert("x")</script>', "O'Brien & Co", "Zoë Ñúñez", "", "a\nb"]


def _both(choices, value, attrs):  # type: ignore[no-untyped-def]
    stock = forms.CheckboxSelectMultiple(choices=choices).render("recipients", value, attrs)
    ours = CheckboxList(choices=choices).render("recipients", value, attrs)
    return stock, ours


@pytest.mark.parametrize("value", [None, [], [2], ["1", "3"], [99]])
@pytest.mark.parametrize(
    "attrs",
    [None, {"id": "id_recipients"}, {"id": "x", "class": "c d", "disabled": True, "data-x": False}],
)
def test_same_html_as_django(value, attrs):
    choices = list(enumerate(LABELS, start=1))
    stock, ours = _both(choices, value, attrs)
    assert ours == stock
    assert "<script>" not in ours


def test_grouped_choices_fall_back_to_django():
    choices = [("Group <b>", [(1, "a"), (2, "b")]), (3, "c")]
    stock, ours = _both(choices, [2], {"id": "g"})
    assert ours == stock


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.text(max_size=20), max_size=8),
    chosen=st.lists(st.integers(min_value=0, max_value=9), max_size=4),
    with_id=st.booleans(),
)
def test_same_html_for_any_labels(labels, chosen, with_id):
    choices = list(enumerate(labels))
    stock, ours = _both(choices, chosen, {"id": "id_r"} if with_id else None)
    assert ours == stock


@pytest.mark.django_db
def test_the_message_form_uses_it(world):
    from messaging.forms import MessageForm

    members = type(world["users"]["member_open"]).objects.all()
    form = MessageForm(clearance=3, members=members)
    assert isinstance(form.fields["recipients"].widget, CheckboxList)
    html = str(form["recipients"])
    stock = forms.CheckboxSelectMultiple(choices=form.fields["recipients"].choices).render(
        "recipients", None, {"id": "id_recipients"}
    )
    assert html == stock and html.count('type="checkbox"') == members.count()
