"""The jobs process's event consumers: beside the reaper on the process's one event loop,
with a Redis client of their own, as they block on ``XREADGROUP``: the archiver with its
sweep and retention, and the audit archiver, in one group; the controllers (sweeps,
pipelines) in another, so a slow archive never delays a trial.
"""

import asyncio

from runyard_server.config import Settings
from runyard_server.jobs.archiver import GROUP, Archiver
from runyard_server.jobs.audit_archiver import AuditArchiver
from runyard_server.jobs.controllers import GROUP as CONTROLLERS
from runyard_server.jobs.controllers import Controller, ControllerHub
from runyard_server.jobs.events import EventConsumer
from runyard_server.jobs.retention import Retention
from runyard_server.jobs.sweeps import SweepController
from runyard_server.redis_client import connect
from runyard_server.storage import open_stores


async def run_consumers(settings: Settings, stop: asyncio.Event) -> None:
    """Archive final tasks and drive the controllers as their events come, until
    ``stop`` is set."""
    r = connect(settings)
    stores = open_stores(settings)
    history = stores.history
    archiver = Archiver(r, history)
    audit = AuditArchiver(r, stores.audit, settings.audit_live_days)
    every = [(settings.history_sweep_s, archiver.sweep), (settings.history_sweep_s, audit.run)]
    if settings.history_retention_days is not None:
        retention = Retention(r, history, settings.history_retention_days)
        every.append((min(3600.0, settings.history_sweep_s), retention.run))
    consumer = EventConsumer(r, GROUP, archiver.on_event, retry_s=settings.event_retry_s)
    controllers: list[Controller] = [SweepController(r, history)]
    runs = [consumer.run(stop, every)]
    if controllers:
        hub = ControllerHub(r, controllers)
        steer = EventConsumer(r, CONTROLLERS, hub.on_event, retry_s=settings.event_retry_s)
        runs.append(steer.run(stop, hub.periodic()))
    try:
        await asyncio.gather(*runs)
    finally:
        await r.aclose()
