"""Schedules, triggers and webhooks in the jobs process, on a Redis client of their own:
the schedule loop, the ``triggers`` consumer group, the two ``webhooks`` groups (task
events, notifications) and the webhook sender. Their groups are apart from the
archiver's and the controllers', so a webhook receiver that is down, or a trigger whose
target is gone, never delays an archive or a sweep.
"""

import asyncio

from runyard_server.config import Settings
from runyard_server.jobs.events import EventConsumer, StreamConsumer
from runyard_server.jobs.schedules import schedule_forever
from runyard_server.jobs.ticks import every
from runyard_server.jobs.triggers import GROUP as TRIGGERS
from runyard_server.jobs.triggers import Triggers
from runyard_server.jobs.webhooks import GROUP as WEBHOOKS
from runyard_server.jobs.webhooks import TICK_S, FanOut, Sender, notification
from runyard_server.redis_client import connect
from runyard_server.store import keys


async def run_automation(settings: Settings, stop: asyncio.Event) -> None:
    """Run them all until ``stop`` is set."""
    r = connect(settings)
    retry_s = settings.event_retry_s
    sender = Sender(r, settings)
    fan_out = FanOut(r, sender.step)
    task_events = EventConsumer(r, WEBHOOKS, fan_out.on_task_event, retry_s=retry_s)
    notifications = StreamConsumer(
        r, WEBHOOKS, fan_out.on_notification, notification, stream=keys.NOTIFY, retry_s=retry_s
    )
    triggers = EventConsumer(r, TRIGGERS, Triggers(r).on_event, retry_s=retry_s)
    try:
        await asyncio.gather(
            schedule_forever(r, settings.schedule_tick_s, stop),
            triggers.run(stop, []),
            task_events.run(stop, []),
            notifications.run(stop, []),
            every("webhook sender", TICK_S, stop, sender.step),
        )
    finally:
        await sender.close()
        await r.aclose()
