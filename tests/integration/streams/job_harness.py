"""Streams' scheduled-post job in a process of its own, killed (SIGKILL) in the middle of a
run: right after its first post's publishing UPDATE, inside the transaction, before the
commit that would carry it and its stream.post_published.

    python -m tests.integration.streams.job_harness '{"database_url": ..., "now": ...}'

It exits 3 if no post was due (the kill never came).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from typing import Any

from chassis.clock import FrozenClock
from services.streams.repository import Posts
from tests.integration.streams.world import built_streams

NOTHING_DUE = 3


def killed_after_first_publish() -> None:
    """Makes Posts.publish kill this process the moment its UPDATE has run."""
    publish = Posts.publish

    async def then_killed(self: Posts, *args: Any, **kwargs: Any) -> bool:
        await publish(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return True

    Posts.publish = then_killed  # type: ignore[method-assign]


async def run(spec: dict[str, Any]) -> None:
    clock = FrozenClock(datetime.fromisoformat(spec["now"]))
    async with built_streams(spec["database_url"], clock) as service:
        killed_after_first_publish()
        await service.desk.publish_due_posts()


def main() -> int:
    asyncio.run(run(json.loads(sys.argv[1])))
    print("no scheduled post was due", file=sys.stderr)
    return NOTHING_DUE


if __name__ == "__main__":
    sys.exit(main())
