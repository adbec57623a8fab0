"""The messaging bench's pieces: replicas paired by number, the senders' pace, and a burst
whose every event notifies exactly one client, and the machine's busy time."""

from __future__ import annotations

import os
import time

import pytest

from bench.figures import pace
from bench.live import Busy, send_offset
from bench.notifications import refunds
from bench.process import MachineTime, machine_time
from bench.shapes import EmbeddedShape, replica_addresses, replica_name
from chassis.bus.embedded import EmbeddedBroker
from chassis.bus.envelope import decode_event
from services.messaging.domain.notifications import Kind
from services.messaging.notices import notices_for
from services.payments.events import REFUND_ISSUED


def test_each_replica_talks_to_the_same_numbered_replica_of_each_service():
    ports = {"identity": [50051], "messaging": [50061, 50062]}
    assert replica_addresses(ports, 0) == {
        "ESTUARY_IDENTITY_ADDRESS": "127.0.0.1:50051",
        "ESTUARY_MESSAGING_ADDRESS": "127.0.0.1:50061",
    }
    assert replica_addresses(ports, 1) == {
        "ESTUARY_IDENTITY_ADDRESS": "127.0.0.1:50051",
        "ESTUARY_MESSAGING_ADDRESS": "127.0.0.1:50062",
    }
    # A third gateway wraps round to the first messaging replica.
    assert replica_addresses(ports, 2)["ESTUARY_MESSAGING_ADDRESS"] == "127.0.0.1:50061"


def test_a_process_alone_keeps_its_service_name_and_replicas_are_numbered_from_one():
    assert replica_name("messaging", 0, 1) == "messaging"
    assert [replica_name("gateway", n, 2) for n in range(2)] == ["gateway-1", "gateway-2"]


def test_senders_start_evenly_spread_over_one_interval():
    offsets = [send_offset(n, 4, 0.5) for n in range(4)]
    assert offsets == [0.0, 0.125, 0.25, 0.375]


def test_pace_counts_the_intervals_between_the_first_and_the_last_instant():
    assert pace([10.0, 10.5, 11.0, 12.0]) == pytest.approx(1.5)
    assert pace([3.0]) == 0.0
    assert pace([]) == 0.0


def test_every_event_of_the_burst_notifies_one_client_dealt_in_turn():
    users = ["u-1", "u-2", "u-3"]
    burst = refunds(users, 7)
    assert len({event.id for event in burst}) == 7
    notified = []
    for event in burst:
        headers: dict[str, object] = dict(event.headers)
        received = decode_event(
            headers, event.content_type, event.body, {REFUND_ISSUED.name: REFUND_ISSUED}
        )
        [notice] = notices_for(received, "https://estuary.example")
        assert notice.kind is Kind.REFUND_ISSUED
        notified.append(notice.recipient_user_id)
    assert notified == ["u-1", "u-2", "u-3", "u-1", "u-2", "u-3", "u-1"]


def test_a_stopped_embedded_suite_finds_the_burst_queued_on_its_bus(tmp_path):
    bus = EmbeddedBroker(tmp_path / "bus.db")
    bus.declare_queue("messaging.notifications", [REFUND_ISSUED.name])
    bus.close()
    EmbeddedShape(tmp_path, tmp_path).queue_while_stopped(refunds(["u-1"], 3))
    reopened = EmbeddedBroker(tmp_path / "bus.db")
    try:
        assert len(reopened.queues["messaging.notifications"].ready) == 3
    finally:
        reopened.close()


def test_an_event_no_queue_takes_is_reported_not_dropped(tmp_path):
    with pytest.raises(RuntimeError, match="3 events refused"):
        EmbeddedShape(tmp_path, tmp_path).queue_while_stopped(refunds(["u-1"], 3))


def test_the_machines_busy_time_grows_with_work_and_counts_every_core():
    before = machine_time()
    assert before.cores == os.cpu_count()
    spin_until = time.process_time() + 0.3
    while time.process_time() < spin_until:
        pass
    used = machine_time() - before
    # This process's own 0.3 s at least (clock ticks are 10 ms).
    assert used.busy >= 0.28 and used.stolen >= 0
    span = Busy(MachineTime(1.5, 0.2, 2), wall_seconds=1.0)
    assert (span.share(span.used.busy), span.share(span.used.stolen)) == (0.75, 0.1)
