"""The bench reads wrk's report: the figures it prints are the ones wrk measured."""

from __future__ import annotations

import pytest

from bench.wrk import parse

REPORT = """Running 2s test @ http://127.0.0.1:45765/ping
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.55ms    3.10ms  40.44ms   95.74%
    Req/Sec     4.03k     1.03k    6.30k    75.00%
  Latency Distribution
     50%  725.00us
     75%    1.38ms
     90%    3.02ms
     99%   16.20ms
  16073 requests in 2.01s, 1.76MB read
Requests/sec:   7987.99
Transfer/sec:      0.88MB
"""


def test_a_report_gives_requests_latencies_and_the_servers_cpu():
    result = parse(REPORT, server_cpu=1.5)
    assert result.requests == 16073
    assert result.failures == 0
    assert result.seconds == pytest.approx(2.01)
    assert result.per_second == pytest.approx(16073 / 2.01)
    assert result.latencies.p50_ms == pytest.approx(0.725)
    assert result.latencies.p99_ms == pytest.approx(16.2)
    assert result.latencies.max_ms == pytest.approx(40.44)
    assert result.server_cpu_ms_per_request == pytest.approx(1500 / 16073)


def test_refused_answers_and_socket_errors_count_as_failures():
    report = REPORT.replace(
        "Requests/sec:",
        "  Socket errors: connect 1, read 2, write 0, timeout 3\n"
        "  Non-2xx or 3xx responses: 40\nRequests/sec:",
    )
    assert parse(report, server_cpu=0.0).failures == 46


def test_a_report_missing_a_percentile_is_refused_not_read_as_zero():
    with pytest.raises(ValueError, match="lacks a figure"):
        parse(REPORT.replace("     99%   16.20ms\n", ""), server_cpu=0.0)
