"""Demo connectors: one per demo client and channel it serves, so `make run` shows the inbound
side. Each goes to the first queue that takes its channel (else the client's first queue). Their
signing secrets are fresh, as any connector's; `manage.py bootstrap --demo` prints them (demo
mode only) so a signed event can be sent to the running demo."""

from __future__ import annotations

from cases.choices import Channel
from cases.models import Client, Queue

from . import services
from .choices import ADAPTER_CHANNEL
from .models import Connector

# The adapter of each channel (one each): ADAPTER_CHANNEL read backwards.
CHANNEL_ADAPTER = {channel: adapter for adapter, channel in ADAPTER_CHANNEL.items()}


def seed_connectors(clients: list[Client], channels_by_client: dict[int, list[str]]) -> int:
    """Create the demo connectors of `clients` (the channels each serves); returns how many."""
    created = 0
    for client in clients:
        queues = list(Queue.objects.filter(client=client).order_by("pk"))
        for channel in channels_by_client[client.pk]:
            queue = next((q for q in queues if channel in (q.channels or [])), queues[0])
            adapter = CHANNEL_ADAPTER[channel]
            services.connector_create(
                client=client,
                name=f"{client.name} {Channel(channel).label}",
                slug=f"{client.slug}-{adapter}",
                adapter=adapter,
                default_queue=queue,
            )
            created += 1
    return created


def demo_connectors(clients: list[Client]) -> list[Connector]:
    """The demo clients' connectors, for bootstrap to list."""
    return list(Connector.objects.filter(client__in=clients).select_related("client").order_by("slug"))
