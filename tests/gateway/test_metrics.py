"""Prometheus metrics from a real gateway process, scraped over HTTP on loopback."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import GatewayMetrics, parse_listen
from tests.harness import GatewayProcess, make_850, write_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.mark.parametrize(
    "bad", ["0.0.0.0:9464", "192.168.1.10:9464", "example.com:80", "127.0.0.1", "127.0.0.1:http", "[::]:9464"]
)
def test_only_loopback_listeners(bad):
    with pytest.raises(ValueError):
        parse_listen(bad)


def test_loopback_listeners_parse():
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen("localhost:9464") == ("127.0.0.1", 9464)


def test_registry_is_private():
    a, b = GatewayMetrics(), GatewayMetrics()
    a.observe_intake("acme", 1.0)
    assert a.registry.get_sample_value("edigate_intake_latency_seconds_count", {"partner": "acme"}) == 1
    assert b.registry.get_sample_value("edigate_intake_latency_seconds_count", {"partner": "acme"}) is None


def test_scrape_a_running_gateway(tmp_path):
    port = _free_port()
    cfg = write_config(tmp_path, extra_gateway=f'metrics_listen = "127.0.0.1:{port}"')
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        for i in range(3):
            (tmp_path / "inbox" / "acme" / f"po{i}.edi").write_bytes(make_850(100 + i, f"PO-{i}"))
        (tmp_path / "inbox" / "acme" / "junk.edi").write_bytes(b"this is not EDI at all")
        gw.wait_settled(4)
        # The daemon refreshes its snapshot every few seconds: wait for it to catch up.
        deadline = time.monotonic() + 60
        samples: dict = {}
        while time.monotonic() < deadline:
            samples = _scrape(port)
            if (
                _value(samples, "edigate_delivery_latency_seconds_count", sink="local") == 3
                and _value(samples, "edigate_dead_letters") == 1
            ):
                break
            time.sleep(0.2)
        delivered = _value(
            samples, "edigate_messages", partner="acme", document="purchase_order", state="delivered"
        )
        assert delivered == 3, samples
        rejected = sum(
            v
            for (n, labels), v in samples.items()
            if n == "edigate_messages" and ("state", "rejected") in labels
        )
        assert rejected == 1
        assert _value(samples, "edigate_dead_letters") == 1
        assert _value(samples, "edigate_intake_latency_seconds_count", partner="acme") == 3
        assert _value(samples, "edigate_delivery_latency_seconds_count", sink="local") == 3
        assert _value(samples, "edigate_delivery_latency_seconds_bucket", sink="local", le="+Inf") == 3
        assert _value(samples, "edigate_sink_backlog", sink="local") == 0
        assert _value(samples, "edigate_sink_oldest_seconds", sink="local") == 0
        assert _value(samples, "edigate_sink_up", sink="local") == 1
        assert _value(samples, "edigate_deliveries_total", sink="local") == 3
        assert _value(samples, "edigate_delivery_retries_total", sink="local") == 0
        assert _value(samples, "edigate_journal_bytes", part="database") > 0
        assert _value(samples, "edigate_journal_bytes", part="spool") > 0
        assert _value(samples, "edigate_disk_free_bytes") > 0
        assert _value(samples, "edigate_disk_floor_bytes") == 1024 * 1024
    finally:
        assert gw.stop() == 0
    assert "refresh failed" not in gw.log.read_text()
    # the listener is gone with the process
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_a_non_loopback_listener_fails_validation(tmp_path):
    import subprocess
    import sys

    cfg = write_config(tmp_path, extra_gateway='metrics_listen = "0.0.0.0:9464"')
    r = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 78 and "gateway.metrics_listen" in r.stderr
