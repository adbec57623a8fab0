"""Partner webhooks' rules: the Standard Webhooks signature, the secret's form, the retry
schedule's doubling, cap and jitter."""

from __future__ import annotations

import base64
import random
from datetime import timedelta

from services.messaging.domain.webhooks import RetrySchedule, new_secret, signature


def test_the_signature_is_the_standard_webhooks_one():
    # The spec's published example: its secret, id, timestamp, body and signature.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_secret_is_whsec_and_the_base64_of_at_least_24_fresh_bytes():
    made = {new_secret() for _ in range(3)}
    assert len(made) == 3
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def test_the_wait_doubles_per_failure_up_to_the_cap_within_the_jitter():
    schedule = RetrySchedule(timedelta(minutes=10), timedelta(hours=12), 0.0, 8)
    assert [schedule.delay(n) for n in (1, 2, 3, 7, 8)] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(minutes=640),
        timedelta(hours=12),
    ]
    assert (schedule.gives_up(7), schedule.gives_up(8)) == (False, True)
    jittered = RetrySchedule(timedelta(minutes=10), timedelta(hours=12), 0.2, 8)
    waits = {jittered.delay(2, random.Random(seed)) for seed in range(50)}
    assert len(waits) > 1
    assert all(timedelta(minutes=16) <= w <= timedelta(minutes=24) for w in waits)
