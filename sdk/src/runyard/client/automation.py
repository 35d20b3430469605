"""``client.schedules``, ``client.triggers``, ``client.webhooks``: work the server starts
on its own, and who hears about it (``/schedules``, ``/triggers``, ``/webhooks``)."""

from __future__ import annotations

from runyard.client._http import Transport, seg
from runyard.models import (
    Schedule,
    ScheduleCreate,
    Trigger,
    TriggerCreate,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
)


class Schedules:
    """Clone a task and enqueue the clone on a cron, in a time zone."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, body: ScheduleCreate) -> Schedule:
        return self._http.call(Schedule, "POST", "/schedules", body=body)

    def list(self) -> list[Schedule]:
        """Every schedule with its next run times."""
        return self._http.call_list(Schedule, "GET", "/schedules")

    def get(self, schedule_id: str) -> Schedule:
        return self._http.call(Schedule, "GET", f"/schedules/{seg(schedule_id)}")

    def pause(self, schedule_id: str) -> Schedule:
        return self._http.call(Schedule, "POST", f"/schedules/{seg(schedule_id)}/pause")

    def resume(self, schedule_id: str) -> Schedule:
        """Run again from the next cron time (runs missed while paused are not made up)."""
        return self._http.call(Schedule, "POST", f"/schedules/{seg(schedule_id)}/resume")

    def delete(self, schedule_id: str) -> None:
        self._http.send("DELETE", f"/schedules/{seg(schedule_id)}")


class Triggers:
    """Clone a task and enqueue the clone when a task ends a certain way."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, body: TriggerCreate) -> Trigger:
        return self._http.call(Trigger, "POST", "/triggers", body=body)

    def list(self) -> list[Trigger]:
        return self._http.call_list(Trigger, "GET", "/triggers")

    def get(self, trigger_id: str) -> Trigger:
        return self._http.call(Trigger, "GET", f"/triggers/{seg(trigger_id)}")

    def pause(self, trigger_id: str) -> Trigger:
        return self._http.call(Trigger, "POST", f"/triggers/{seg(trigger_id)}/pause")

    def resume(self, trigger_id: str) -> Trigger:
        return self._http.call(Trigger, "POST", f"/triggers/{seg(trigger_id)}/resume")

    def delete(self, trigger_id: str) -> None:
        self._http.send("DELETE", f"/triggers/{seg(trigger_id)}")


class Webhooks:
    """A signed JSON POST per event to a URL."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(self, body: WebhookCreate) -> WebhookCreated:
        """The answer's ``secret`` signs every body; it is not shown again."""
        return self._http.call(WebhookCreated, "POST", "/webhooks", body=body)

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[WebhookDelivery]:
        """The webhook's newest deliveries first."""
        path = f"/webhooks/{seg(webhook_id)}/deliveries"
        return self._http.call_list(WebhookDelivery, "GET", path, params={"limit": limit})

    def list(self) -> list[Webhook]:
        return self._http.call_list(Webhook, "GET", "/webhooks")

    def get(self, webhook_id: str) -> Webhook:
        return self._http.call(Webhook, "GET", f"/webhooks/{seg(webhook_id)}")

    def delete(self, webhook_id: str) -> None:
        self._http.send("DELETE", f"/webhooks/{seg(webhook_id)}")
