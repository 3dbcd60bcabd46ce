"""The message form's widgets (messaging.forms) render exactly what Django's templates do."""

from __future__ import annotations

import pytest
from django import forms
from django.utils.safestring import mark_safe
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.forms import CheckboxList, FastHiddenInput, FastSelect, FastTextarea

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


HOSTILE = ['"><script>alert(1)</script>', "a & b", "O'Brien", "Zoë", "", " spaced ", "x\ny"]
ATTRS = [
    None,
    {"id": "id_x"},
    {"id": 'q"x', "class": "c <d>", "required": True, "disabled": False, "rows": 4, "n": None},
    {"aria-describedby": "id_x_helptext", "data-safe": mark_safe("<b>")},
]
PAIRS = [
    (forms.Textarea, FastTextarea),
    (forms.HiddenInput, FastHiddenInput),
    (forms.Select, FastSelect),
]


@pytest.mark.parametrize(("stock", "fast"), PAIRS)
@pytest.mark.parametrize("attrs", ATTRS)
@pytest.mark.parametrize("value", [None, "", 0, 3, "GREEN", *HOSTILE, mark_safe("<i>safe</i>")])
def test_fast_widgets_render_what_django_renders(stock, fast, attrs, value):
    kwargs = {"choices": [(0, "OPEN"), ("GREEN", "TLP:GREEN"), *((v, v) for v in HOSTILE)]}
    if stock is not forms.Select:
        kwargs = {}
    expected = stock(**kwargs).render("field", value, attrs)
    assert fast(**kwargs).render("field", value, attrs) == expected
    assert "<script>" not in expected


def test_a_grouped_select_renders_what_django_renders():
    choices = [("Group <b>", [(1, "a"), (2, "b & c")]), (3, "c"), ("", [(4, "d")])]
    for value in (None, 2, "3", 4):
        assert FastSelect(choices=choices).render("g", value, {"id": "g"}) == forms.Select(
            choices=choices
        ).render("g", value, {"id": "g"})


@settings(max_examples=80, deadline=None)
@given(
    value=st.one_of(st.none(), st.text(max_size=30), st.integers()),
    labels=st.lists(st.text(max_size=15), max_size=6),
    attr_value=st.one_of(st.booleans(), st.text(max_size=10), st.integers()),
)
def test_fast_widgets_for_any_values(value, labels, attr_value):
    attrs = {"id": "id_f", "data-x": attr_value}
    choices = list(enumerate(labels))
    for stock, fast in PAIRS:
        kwargs = {"choices": choices} if stock is forms.Select else {}
        expected = stock(**kwargs).render("f", value, attrs)
        assert fast(**kwargs).render("f", value, attrs) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es", "pt", "fr"])
def test_the_message_form_renders_what_stock_widgets_render(world, language):
    """The whole form, unbound and bound with errors, against the same form with Django's
    own widgets."""
    from django.utils import translation

    from messaging.forms import MessageForm

    members = type(world["users"]["member_open"]).objects.all()
    bound = {"body": "", "level": "9", "tlp": '"><script>', "recipients": ["x"], "client_id": "?"}
    with translation.override(language):
        for data in (None, bound):
            ours = MessageForm(data, clearance=2, members=members, initial={"client_id": "c1"})
            stock = MessageForm(data, clearance=2, members=members, initial={"client_id": "c1"})
            for name, widget in (
                ("body", forms.Textarea(attrs={"rows": 4})),
                ("level", forms.Select()),
                ("tlp", forms.Select()),
                ("client_id", forms.HiddenInput()),
            ):
                widget.choices = getattr(stock.fields[name], "choices", ())
                widget.is_required = stock.fields[name].widget.is_required
                stock.fields[name].widget = widget
            recipients = stock.fields["recipients"]
            recipients.widget = forms.CheckboxSelectMultiple(choices=recipients.choices)
            html = ours.as_p()
            assert html == stock.as_p()
            assert "<script>" not in html and 'name="level"' in html
