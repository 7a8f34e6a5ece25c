"""Deterministic demo data: clients, queues, customers with identities, and cases with their
interactions and timelines over the last 90 days.

The plan is generated in memory from a seeded random generator, then written with
`bulk_create` (a few statements per table, not one per row) so the default size loads in
seconds. The case timeline rows are written exactly as the case services write them, so the SLA
engine rebuilds every case's clocks from them afterwards (`slas.services.clocks_rebuild`).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from django.contrib.auth import get_user_model
from django.db import transaction

from cases.choices import AuthorKind, CaseEventKind, CaseStatus, Channel, Direction, IdentityKind, Priority
from cases.models import (
    Case,
    CaseEvent,
    Client,
    Customer,
    CustomerIdentity,
    Interaction,
    Queue,
    SatisfactionSurvey,
)
from connectors.demo import seed_connectors
from governance.demo import GovernanceDemoSummary, seed_governance
from slas.models import BusinessCalendar, SLAPolicy, SLATarget
from slas.services import calendar_generate_holidays, calendar_import_spec, clocks_rebuild

DEMO_CLIENTS = (
    {
        "name": "Northwind Telecom",
        "slug": "northwind",
        "timezone": "America/New_York",
        "region": "US",
        "phone_prefixes": ["212555", "646555", "415555"],
        "channels": {Channel.VOICE: 45, Channel.EMAIL: 20, Channel.CHAT: 20, Channel.SMS: 15},
        "hours": {
            "mon": [["08:00", "20:00"]],
            "tue": [["08:00", "20:00"]],
            "wed": [["08:00", "20:00"]],
            "thu": [["08:00", "20:00"]],
            "fri": [["08:00", "20:00"]],
            "sat": [["09:00", "17:00"]],
        },
        "holidays": ("US", "NY"),
        "queues": [
            ("Billing", [Channel.VOICE, Channel.EMAIL, Channel.SMS]),
            ("Technical support", [Channel.VOICE, Channel.CHAT, Channel.EMAIL]),
        ],
    },
    {
        "name": "Lumen Bank",
        "slug": "lumen",
        "hours": {
            day: [["08:00", "12:30"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
        },
        "holidays": ("GB", "ENG"),
        "timezone": "Europe/London",
        "region": "GB",
        "phone_prefixes": ["2079460", "1174960", "1632960"],
        "channels": {
            Channel.EMAIL: 30,
            Channel.CHAT: 25,
            Channel.WHATSAPP: 20,
            Channel.PORTAL: 10,
            Channel.VOICE: 15,
        },
        "queues": [
            ("Cards", [Channel.VOICE, Channel.CHAT, Channel.WHATSAPP]),
            ("Mortgages", [Channel.EMAIL, Channel.PORTAL, Channel.VOICE]),
            ("Fraud", [Channel.VOICE, Channel.CHAT, Channel.EMAIL]),
        ],
    },
    {
        "name": "Kestrel Retail",
        "slug": "kestrel",
        "hours": {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")},
        "holidays": ("AU", "NSW"),
        "timezone": "Australia/Sydney",
        "region": "AU",
        "phone_prefixes": ["0491570", "0412345", "0423456"],
        "channels": {
            Channel.SOCIAL: 25,
            Channel.CHAT: 30,
            Channel.WHATSAPP: 15,
            Channel.EMAIL: 20,
            Channel.PORTAL: 10,
        },
        "queues": [
            ("Orders", [Channel.CHAT, Channel.SOCIAL, Channel.WHATSAPP]),
            ("Returns", [Channel.EMAIL, Channel.PORTAL, Channel.CHAT]),
        ],
    },
)
FIRST_NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kiri",
    "Liam",
    "Maya",
    "Noah",
    "Olive",
    "Priya",
    "Quinn",
    "Ruby",
    "Sam",
    "Tariq",
    "Uma",
    "Vik",
    "Wen",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Ng",
    "Smith",
    "Patel",
    "Garcia",
    "Okafor",
    "Nguyen",
    "Brown",
    "Kowalski",
    "Haddad",
    "Silva",
    "Murphy",
    "Tanaka",
    "Rossi",
    "Cohen",
    "Moreau",
    "Walker",
]
TOPICS = {
    "Billing": [
        "Charged twice this month",
        "Bill higher than expected",
        "Update my payment card",
        "Refund not received",
    ],
    "Technical support": [
        "No internet since this morning",
        "Router keeps restarting",
        "Cannot make calls abroad",
        "SIM not recognised",
    ],
    "Cards": ["Card declined abroad", "Lost my card", "Raise my card limit", "Contactless not working"],
    "Mortgages": [
        "Remortgage quote",
        "Overpayment question",
        "Documents for my application",
        "Rate change letter",
    ],
    "Fraud": ["Payment I don't recognise", "Suspicious text message", "Account locked after login attempts"],
    "Orders": [
        "Where is my order?",
        "Item arrived damaged",
        "Change delivery address",
        "Discount code not applied",
    ],
    "Returns": ["Return label not working", "Refund for returned item", "Exchange for another size"],
}
CUSTOMER_LINES = [
    "Hi, I need help with this please.",
    "This is the second time I'm asking, very frustrating.",
    "Thanks, that works now!",
    "Still not fixed, what is going on?",
    "Can someone call me back?",
    "Great service, thank you so much.",
    "I am really unhappy with how long this takes.",
]
AGENT_LINES = [
    "Thanks for reaching out, I'm looking into it now.",
    "I've fixed this on our side, can you check?",
    "Sorry for the wait. I've escalated this to our specialists.",
    "Could you confirm your address?",
]
BOT_LINE = "Thanks for your message! An agent will be with you shortly."
HOUR, MINUTE = 3600, 60
# Resolution targets in business seconds by priority, shared by every demo policy.
RESOLUTION_TARGETS = {
    Priority.URGENT: 4 * HOUR,
    Priority.HIGH: 8 * HOUR,
    Priority.NORMAL: 24 * HOUR,
    Priority.LOW: 72 * HOUR,
}
# name, channels, calendar ("24x7" or "hours"), first response and next response by priority
DEMO_POLICIES = (
    ("Voice: answer in 20 s", [Channel.VOICE], "24x7", dict.fromkeys(Priority.values, 20), None),
    (
        "Chat and messaging: first reply in 60 s",
        [Channel.CHAT, Channel.WHATSAPP, Channel.SMS, Channel.SOCIAL],
        "24x7",
        dict.fromkeys(Priority.values, 60),
        dict.fromkeys(Priority.values, 2 * MINUTE),
    ),
    (
        "E-mail and portal: 4 business hours",
        [Channel.EMAIL, Channel.PORTAL],
        "hours",
        {Priority.URGENT: HOUR, Priority.HIGH: 2 * HOUR, Priority.NORMAL: 4 * HOUR, Priority.LOW: 8 * HOUR},
        {
            Priority.URGENT: 2 * HOUR,
            Priority.HIGH: 4 * HOUR,
            Priority.NORMAL: 8 * HOUR,
            Priority.LOW: 16 * HOUR,
        },
    ),
)
PRIORITY_WEIGHTS = {Priority.URGENT: 5, Priority.HIGH: 15, Priority.NORMAL: 65, Priority.LOW: 15}


@dataclass
class DemoSummary:
    clients: int = 0
    queues: int = 0
    customers: int = 0
    identities: int = 0
    cases: int = 0
    interactions: int = 0
    events: int = 0
    surveys: int = 0
    clocks: int = 0
    connectors: int = 0
    case_ids: list[int] = field(default_factory=list)
    governance: GovernanceDemoSummary | None = None


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _phone(rng: random.Random, prefixes: list[str], region: str) -> str | None:
    prefix = rng.choice(prefixes)
    national = prefix + "".join(
        str(rng.randrange(10)) for _ in range(10 - len(prefix) + (1 if region != "US" else 0))
    )
    try:
        number = phonenumbers.parse(national, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def demo_present() -> bool:
    return Client.objects.filter(slug__in=[c["slug"] for c in DEMO_CLIENTS]).exists()


@transaction.atomic
def seed(*, seed: int = 7, scale: float = 1.0, now: datetime, governance: bool = True) -> DemoSummary:
    """Write the demo data set. The caller checks `demo_present()` first.

    With `governance` (the default) the governance demo follows once the clocks exist
    (`governance.demo.seed_governance`): tiers, rules, reviews, actions, meetings, risks."""
    rng = random.Random(seed)
    summary = DemoSummary()
    user_model = get_user_model()
    clients, queues_by_client = [], {}
    for spec in DEMO_CLIENTS:
        client = Client.objects.create(
            name=spec["name"], slug=spec["slug"], timezone=spec["timezone"], default_region=spec["region"]
        )
        clients.append(client)
        queues_by_client[client.pk] = [
            Queue.objects.create(
                client=client, name=name, slug=name.lower().replace(" ", "-"), channels=list(chans)
            )
            for name, chans in spec["queues"]
        ]
    for client, spec in zip(clients, DEMO_CLIENTS, strict=True):
        _seed_policies(client, spec, now)
    agents = []
    for index in range(6):
        agent, _ = user_model.objects.get_or_create(
            username=f"demo-agent-{index + 1}", defaults={"is_staff": True, "first_name": FIRST_NAMES[index]}
        )
        agent.set_unusable_password()
        agent.save()
        agents.append(agent)
    for client in clients:
        client.staff.add(*agents)
        for queue in queues_by_client[client.pk]:
            queue.agents.add(*agents)
    summary.clients, summary.queues = len(clients), sum(len(q) for q in queues_by_client.values())

    customers, identities = [], []
    customer_total = int(2000 * scale)
    for index in range(customer_total):
        spec = DEMO_CLIENTS[index % len(DEMO_CLIENTS)]
        client = clients[index % len(clients)]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customer = Customer(
            public_id=_uuid(rng),
            client=client,
            display_name=f"{first} {last}",
            segment=rng.choices(["standard", "premium", "business"], [80, 15, 5])[0],
            is_vip=rng.random() < 0.03,
        )
        customers.append(customer)
        identities.append((customer, IdentityKind.EMAIL, f"{first}.{last}.{index}@example.com".lower()))
        phone = _phone(rng, spec["phone_prefixes"], spec["region"])
        if phone:
            identities.append((customer, IdentityKind.PHONE, phone))
        if Channel.SOCIAL in spec["channels"] and rng.random() < 0.5:
            identities.append((customer, IdentityKind.SOCIAL, f"twitter:{first}{last}{index}".lower()))
        if rng.random() < 0.4:
            identities.append(
                (customer, IdentityKind.EXTERNAL, f"CRM-{spec['slug'].upper()}-{100000 + index}")
            )
    Customer.objects.bulk_create(customers, batch_size=1000)
    seen = set()
    identity_rows = []
    for customer, kind, value in identities:
        if (customer.client_id, kind, value) in seen:
            continue
        seen.add((customer.client_id, kind, value))
        identity_rows.append(
            CustomerIdentity(client_id=customer.client_id, customer=customer, kind=kind, value=value)
        )
    CustomerIdentity.objects.bulk_create(identity_rows, batch_size=2000)
    summary.customers, summary.identities = len(customers), len(identity_rows)
    customers_by_client: dict[int, list[Customer]] = {}
    for customer in customers:
        customers_by_client.setdefault(customer.client_id, []).append(customer)

    plans = [
        _plan_case(rng, now, clients, queues_by_client, customers_by_client, agents)
        for _ in range(int(10000 * scale))
    ]
    Case.objects.bulk_create([plan.case for plan in plans], batch_size=1000)
    interactions = [row for plan in plans for row in plan.interactions]
    Interaction.objects.bulk_create(interactions, batch_size=2000)
    events = [row for plan in plans for row in plan.events]
    CaseEvent.objects.bulk_create(events, batch_size=2000)
    surveys = [row for plan in plans for row in plan.surveys]
    SatisfactionSurvey.objects.bulk_create(surveys, batch_size=2000)
    summary.cases, summary.interactions = len(plans), len(interactions)
    summary.events, summary.surveys = len(events), len(surveys)
    summary.case_ids = [plan.case.pk for plan in plans]
    diffs = clocks_rebuild(case_ids=summary.case_ids, now=now, reason="demo data")
    summary.clocks = sum(1 for diff in diffs if diff.created)
    channels = {client.pk: list(spec["channels"]) for client, spec in zip(clients, DEMO_CLIENTS, strict=True)}
    summary.connectors = seed_connectors(clients, channels)
    if governance:
        summary.governance = seed_governance(clients, now)
    return summary


def _seed_policies(client: Client, spec: dict, now: datetime) -> None:
    always = BusinessCalendar.objects.create(
        client=client, name=f"{client.name} 24x7", timezone=client.timezone, is_24x7=True
    )
    hours = BusinessCalendar.objects.create(
        client=client, name=f"{client.name} business hours", timezone=client.timezone
    )
    calendar_import_spec(calendar=hours, spec={"timezone": client.timezone, "week": spec["hours"]})
    country, subdivision = spec["holidays"]
    calendar_generate_holidays(
        calendar=hours, country=country, subdivision=subdivision, years=[now.year - 1, now.year, now.year + 1]
    )
    calendars = {"24x7": always, "hours": hours}
    for order, (name, channels, calendar_key, first, following) in enumerate(DEMO_POLICIES, start=1):
        policy = SLAPolicy.objects.create(
            client=client,
            name=name,
            order=order * 10,
            channels=list(channels),
            calendar=calendars[calendar_key],
        )
        targets = [
            SLATarget(policy=policy, metric="first_response", priority=p, seconds=s) for p, s in first.items()
        ]
        targets += [
            SLATarget(policy=policy, metric="next_response", priority=p, seconds=s)
            for p, s in (following or {}).items()
        ]
        targets += [
            SLATarget(policy=policy, metric="resolution", priority=p, seconds=s)
            for p, s in RESOLUTION_TARGETS.items()
        ]
        SLATarget.objects.bulk_create(targets)


@dataclass
class _CasePlan:
    case: Case
    interactions: list[Interaction] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    surveys: list[SatisfactionSurvey] = field(default_factory=list)


def _weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _plan_case(rng, now, clients, queues_by_client, customers_by_client, agents) -> _CasePlan:
    client_index = rng.randrange(len(clients))
    client, spec = clients[client_index], DEMO_CLIENTS[client_index]
    channel = _weighted(rng, spec["channels"])
    queues = [q for q in queues_by_client[client.pk] if channel in q.channels] or queues_by_client[client.pk]
    queue = rng.choice(queues)
    customer = rng.choice(customers_by_client[client.pk])
    age = timedelta(seconds=rng.randrange(int(timedelta(days=90).total_seconds())))
    opened_at = (now - age).replace(microsecond=0)
    priority = _weighted(rng, PRIORITY_WEIGHTS)
    case = Case(
        public_id=_uuid(rng),
        client=client,
        customer=customer,
        queue=queue,
        subject=rng.choice(TOPICS[queue.name]),
        priority=priority,
        origin_channel=channel,
        current_channel=channel,
        tier=1,
        opened_at=opened_at,
        last_activity_at=opened_at,
        status=CaseStatus.NEW,
        external_id=f"{spec['slug'].upper()}-{rng.randrange(10**7, 10**8)}" if rng.random() < 0.3 else "",
    )
    plan = _CasePlan(case=case)
    system = {"actor_label": "demo"}

    def event(kind, when, before=None, after=None, reason="", interaction=None):
        plan.events.append(
            CaseEvent(
                case=case,
                client=client,
                kind=kind,
                occurred_at=when,
                before=before or {},
                after=after or {},
                reason=reason,
                interaction=interaction,
                **system,
            )
        )

    def interact(when, chan, direction, author_kind, body, metadata=None, author=None):
        if when > now:
            return None
        if chan != case.current_channel and direction != Direction.NOTE:
            event(CaseEventKind.CHANNEL_HANDOFF, when, {"channel": case.current_channel}, {"channel": chan})
            case.current_channel = chan
        row = Interaction(
            public_id=_uuid(rng),
            client=client,
            case=case,
            channel=chan,
            direction=direction,
            author_kind=author_kind,
            author=author,
            body=body,
            occurred_at=when,
            metadata=metadata or {},
            source="demo",
            external_id=str(_uuid(rng)),
        )
        plan.interactions.append(row)
        event(
            CaseEventKind.INTERACTION,
            when,
            after={"channel": chan, "direction": direction, "author_kind": author_kind},
            interaction=row,
        )
        case.last_activity_at = max(case.last_activity_at, when)
        return row

    def status(when, new, reason=""):
        if when > now:
            return False
        old = case.status
        kind = CaseEventKind.STATUS_CHANGED
        if new == CaseStatus.RESOLVED:
            kind, case.resolved_at = CaseEventKind.RESOLVED, when
        elif new == CaseStatus.CLOSED:
            kind, case.closed_at = CaseEventKind.CLOSED, when
        elif old == CaseStatus.RESOLVED and new == CaseStatus.OPEN:
            kind = CaseEventKind.REOPENED
            case.reopen_count += 1
            case.resolved_at = None
        event(kind, when, {"status": old}, {"status": new}, reason)
        case.status = new
        return True

    event(
        CaseEventKind.OPENED,
        opened_at,
        after={"status": CaseStatus.NEW, "priority": priority, "channel": channel, "queue": queue.pk},
    )
    agent = rng.choice(agents)
    # Some recent contacts are still waiting in the queue for their first answer.
    if age < timedelta(days=2) and rng.random() < 0.3:
        interact(
            opened_at,
            channel,
            Direction.INBOUND,
            AuthorKind.CUSTOMER,
            "Inbound call" if channel == Channel.VOICE else rng.choice(CUSTOMER_LINES),
        )
        return plan
    # How fast the first agent answer comes, per channel: mostly within the demo policies' targets
    # (voice 20 s, chat and messaging 60 s, e-mail and portal business hours), sometimes late.
    late = rng.random() < 0.12
    real_time = channel not in (Channel.EMAIL, Channel.PORTAL)
    first_delay = {
        Channel.VOICE: rng.randrange(3, 19) if not late else rng.randrange(21, 400),
        Channel.EMAIL: rng.randrange(600, 3 * 3600) if not late else rng.randrange(5 * 3600, 30 * 3600),
        Channel.PORTAL: rng.randrange(300, 2 * 3600) if not late else rng.randrange(4 * 3600, 20 * 3600),
    }.get(channel, rng.randrange(8, 55) if not late else rng.randrange(70, 1800))
    t = opened_at
    if channel == Channel.VOICE:
        abandoned = rng.random() < 0.07
        talk = 0 if abandoned else rng.randrange(60, 900)
        metadata = {
            "call_id": str(_uuid(rng)),
            "wait_seconds": first_delay,
            "talk_seconds": talk,
            "answered": not abandoned,
            "abandoned": abandoned,
        }
        interact(t, channel, Direction.INBOUND, AuthorKind.CUSTOMER, "Inbound call", metadata)
        if abandoned:
            case.subject = "Abandoned call: " + case.subject
            status(t + timedelta(seconds=first_delay), CaseStatus.RESOLVED, "caller hung up before an answer")
            return plan
        t += timedelta(seconds=first_delay)
        if (
            interact(
                t,
                channel,
                Direction.OUTBOUND,
                AuthorKind.AGENT,
                "Call answered",
                {"call_answered": True},
                author=agent,
            )
            is None
        ):
            return plan
    else:
        # A chat session's queue outcome, as connectors.chat_queue records it: answered by the agent.
        queue = {"chat_event": "session.started", "wait_seconds": first_delay, "abandoned": False}
        interact(
            t,
            channel,
            Direction.INBOUND,
            AuthorKind.CUSTOMER,
            rng.choice(CUSTOMER_LINES),
            queue if channel == Channel.CHAT else None,
        )
        if channel in (Channel.CHAT, Channel.WHATSAPP, Channel.SOCIAL):
            interact(t + timedelta(seconds=2), channel, Direction.OUTBOUND, AuthorKind.BOT, BOT_LINE)
        t += timedelta(seconds=first_delay)
        if (
            interact(t, channel, Direction.OUTBOUND, AuthorKind.AGENT, rng.choice(AGENT_LINES), author=agent)
            is None
        ):
            return plan
    case.first_responded_at = t
    case.assignee = agent
    status(t, CaseStatus.OPEN, "agent replied")
    # Follow-ups, sometimes on another channel (a chat moved to e-mail, a callback).
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        t += timedelta(seconds=rng.randrange(600, 12 * 3600))
        follow_channel = channel if rng.random() < 0.7 else rng.choice(list(spec["channels"]))
        if (
            interact(t, follow_channel, Direction.INBOUND, AuthorKind.CUSTOMER, rng.choice(CUSTOMER_LINES))
            is None
        ):
            return plan
        if rng.random() < 0.2:
            if not status(t + timedelta(seconds=30), CaseStatus.PENDING, "waiting for customer details"):
                return plan
            t += timedelta(seconds=rng.randrange(3600, 48 * 3600))
            if not status(t, CaseStatus.OPEN, "customer replied"):
                return plan
        if case.current_channel in (Channel.EMAIL, Channel.PORTAL):
            reply = (
                rng.randrange(600, 6 * 3600) if rng.random() < 0.88 else rng.randrange(9 * 3600, 30 * 3600)
            )
        else:
            reply = rng.randrange(15, 110) if rng.random() < 0.88 else rng.randrange(150, 3600)
        t += timedelta(seconds=reply)
        if (
            interact(
                t,
                case.current_channel,
                Direction.OUTBOUND,
                AuthorKind.AGENT,
                rng.choice(AGENT_LINES),
                author=agent,
            )
            is None
        ):
            return plan
    if rng.random() < 0.1:
        interact(
            t + timedelta(seconds=120),
            case.current_channel,
            Direction.NOTE,
            AuthorKind.AGENT,
            "Checked the account history; nothing unusual.",
            author=agent,
        )
    # Resolved mostly within the resolution target for the priority (business time on the e-mail
    # calendar runs slower than the clock, so wall time under the target is within it), some late.
    target = RESOLUTION_TARGETS[priority]
    on_time = rng.random() < (0.9 if real_time else 0.85)
    share = rng.uniform(0.2, 0.9) if on_time else rng.uniform(1.1, 3.0)
    t = max(
        t + timedelta(seconds=rng.randrange(300, 1800)), opened_at + timedelta(seconds=int(target * share))
    )
    if not status(t, CaseStatus.RESOLVED, "resolved by agent"):
        return plan
    case.first_contact_resolution = case.current_channel == channel and len(plan.interactions) <= 3
    if rng.random() < 0.05:
        t += timedelta(hours=rng.randrange(2, 72))
        if not status(t, CaseStatus.OPEN, "customer says it is not fixed"):
            return plan
        case.first_contact_resolution = False
        t += timedelta(hours=rng.randrange(1, 24))
        if not status(t, CaseStatus.RESOLVED, "fixed after reopen"):
            return plan
    if rng.random() < 0.3 and t + timedelta(hours=1) <= now:
        csat = rng.choices([1, 2, 3, 4, 5], [5, 7, 13, 35, 40])[0]
        plan.surveys.append(
            SatisfactionSurvey(
                public_id=_uuid(rng),
                client=client,
                case=case,
                csat=csat,
                nps=min(10, max(0, csat * 2 + rng.choice([-1, 0]))),
                effort=rng.randrange(1, 8),
                answered_at=t + timedelta(hours=1),
            )
        )
    if t + timedelta(days=3) <= now:
        status(t + timedelta(days=3), CaseStatus.CLOSED, "closed automatically after 3 days")
    return plan
