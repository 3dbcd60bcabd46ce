"""The counter registry, its Prometheus text format, and the loopback-only `/metrics` route."""

from __future__ import annotations

import re

import pytest

from workspace import metrics

# One sample line of the text exposition format: name{labels} value.
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? -?[0-9.e+]+$'
)


@pytest.fixture(autouse=True)
def _fresh_registry():
    metrics.reset()
    yield
    metrics.reset()


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in:\n{text}")


def _assert_valid_exposition(text: str) -> None:
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line


def test_counters_and_gauges_render_in_prometheus_text_format():
    metrics.inc("ws_connections_total")
    metrics.inc("ws_connections_total", 2)
    metrics.inc("ws_connections_open")
    metrics.inc("ws_connections_open")
    metrics.dec("ws_connections_open")
    metrics.inc("ws_events_delivered_total", 5, kind="message.new")
    metrics.inc("ws_events_delivered_total", 1, kind="message.edit")
    text = metrics.render()
    _assert_valid_exposition(text)
    assert "# TYPE ws_connections_total counter" in text
    assert "# TYPE ws_connections_open gauge" in text
    assert _sample(text, "ws_connections_total") == 3
    assert _sample(text, "ws_connections_open") == 1
    assert _sample(text, 'ws_events_delivered_total{kind="message.new"}') == 5
    assert _sample(text, 'ws_events_delivered_total{kind="message.edit"}') == 1


def test_the_documented_names_are_always_exposed():
    text = metrics.render()
    for name in (
        "ws_connections_total",
        "ws_connections_open",
        "ws_events_delivered_total",
        "ws_replays_total",
        "ws_resyncs_total",
        "http_requests_total",
    ):
        assert f"# TYPE {name} " in text
        assert _sample(text, name) == 0


def test_label_values_are_escaped():
    metrics.inc("odd_total", path='a"b\\c\nd}')
    text = metrics.render()
    _assert_valid_exposition(text)
    assert 'odd_total{path="a\\"b\\\\c\\nd}"} 1' in text


def test_labels_are_sorted_so_one_series_is_one_line():
    metrics.inc("pairs_total", a="1", b="2")
    metrics.inc("pairs_total", b="2", a="1")
    assert _sample(metrics.render(), 'pairs_total{a="1",b="2"}') == 2


def test_label_values_that_compare_equal_stay_separate_series():
    """Checked keys are kept per name and labels; 1, 1.0 and True are equal in Python
    but different label values, as they were before the keys were kept."""
    for value in (1, 1.0, True, 1):
        metrics.inc("kinds_total", v=value)
    text = metrics.render()
    assert _sample(text, 'kinds_total{v="1"}') == 2
    assert _sample(text, 'kinds_total{v="1.0"}') == 1
    assert _sample(text, 'kinds_total{v="True"}') == 1


def test_an_invalid_name_is_refused_every_time():
    for _ in range(2):  # a refusal is not kept as an answer
        with pytest.raises(ValueError):
            metrics.inc("bad name")


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.inc("bad name"),
        lambda: metrics.inc("1starts_with_digit"),
        lambda: metrics.inc("x_total", **{"bad-label": "v"}),
        lambda: metrics.inc("x_total", __reserved="v"),
        lambda: metrics.inc("x_total", -1),
        lambda: metrics.dec("x_total"),
        lambda: metrics.inc("x", float("nan")),
        lambda: metrics.inc("x", float("inf")),
    ],
)
def test_invalid_names_labels_and_values_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_series_per_metric_are_bounded():
    for i in range(metrics.MAX_SERIES_PER_METRIC + 50):
        metrics.inc("flood_total", user=str(i))
    lines = [line for line in metrics.render().splitlines() if line.startswith("flood_total{")]
    assert len(lines) == metrics.MAX_SERIES_PER_METRIC


# --- The /metrics route ------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_loopback_scrape_gets_the_metrics(client):
    response = client.get("/metrics")  # the test client's REMOTE_ADDR is 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    _assert_valid_exposition(response.content.decode())


@pytest.mark.django_db
def test_ipv6_loopback_scrape_is_allowed(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("remote_addr", ["203.0.113.7", "10.0.0.1", "::ffff:10.0.0.1", "", "x"])
def test_a_non_loopback_client_is_refused(client, remote_addr):
    metrics.inc("ws_replays_total", 7)
    response = client.get("/metrics", REMOTE_ADDR=remote_addr)
    assert response.status_code == 403
    assert b"ws_replays_total" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.7"},
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},  # spoofable: a proxy means not local
        {"HTTP_X_FORWARDED_FOR": ""},
        {"HTTP_FORWARDED": "for=203.0.113.7"},
        {"HTTP_X_REAL_IP": "127.0.0.1"},
    ],
)
def test_a_proxied_request_is_refused_even_from_loopback(client, header):
    response = client.get("/metrics", **header)
    assert response.status_code == 403
    assert b"http_requests_total" not in response.content


@pytest.mark.django_db
def test_a_huge_forwarded_header_is_just_refused(client):
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="1.2.3.4, " * 20_000)
    assert response.status_code == 403


@pytest.mark.django_db
def test_only_get_and_head(client):
    assert client.post("/metrics").status_code == 405
    assert client.head("/metrics").status_code == 200


@pytest.mark.django_db
def test_http_responses_are_counted_by_status_class(client):
    client.get("/metrics")
    client.get("/no-such-page/")
    client.get("/no-such-page/")
    client.get("/")  # anonymous: redirect to login
    text = client.get("/metrics").content.decode()
    assert _sample(text, 'http_requests_total{status="2xx"}') == 1  # this scrape not yet
    assert _sample(text, 'http_requests_total{status="4xx"}') == 2
    assert _sample(text, 'http_requests_total{status="3xx"}') == 1
