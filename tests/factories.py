"""factory_boy factories: <Model>Factory, one per model. Reach realistic states by calling
services (see tests/cases/test_services.py); factories only build consistent rows."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from cases.choices import Channel, IdentityKind
from cases.models import Case, Client, Customer, CustomerIdentity, Queue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def clients(self, create, extracted, **kwargs):
        if create and extracted:
            for client in extracted:
                client.staff.add(self)
        if create:
            self.save()


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")
    timezone = "America/New_York"
    default_region = "US"


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Queue {n}")
    slug = factory.Sequence(lambda n: f"queue-{n}")
    channels = factory.LazyFunction(lambda: [c.value for c in Channel])


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    client = factory.SubFactory(ClientFactory)
    display_name = factory.Faker("name")


class CustomerIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerIdentity

    customer = factory.SubFactory(CustomerFactory)
    client = factory.SelfAttribute("customer.client")
    kind = IdentityKind.EMAIL
    value = factory.Sequence(lambda n: f"person{n}@example.com")


class CaseFactory(factory.django.DjangoModelFactory):
    """A bare case row (no timeline). For a case with its lifecycle, call `cases.services.case_open`
    (the `open_case` fixture does)."""

    class Meta:
        model = Case

    client = factory.SubFactory(ClientFactory)
    customer = factory.SubFactory(CustomerFactory, client=factory.SelfAttribute("..client"))
    queue = factory.SubFactory(QueueFactory, client=factory.SelfAttribute("..client"))
    subject = factory.Sequence(lambda n: f"Case {n}")
    origin_channel = Channel.EMAIL
    current_channel = factory.SelfAttribute("origin_channel")
    opened_at = factory.LazyFunction(timezone.now)
    last_activity_at = factory.SelfAttribute("opened_at")


# --- SLA engine ------------------------------------------------------------------------------------

from slas.models import BusinessCalendar, CalendarInterval, SLAPolicy, SLATarget  # noqa: E402
from slas.services import calendar_import_spec  # noqa: E402

NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    """A 24x7 calendar by default; `spec=` imports a JSON spec through the service."""

    class Meta:
        model = BusinessCalendar
        skip_postgeneration_save = True

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Calendar {n}")
    timezone = factory.SelfAttribute("client.timezone")
    is_24x7 = True

    @factory.post_generation
    def spec(self, create, extracted, **kwargs):
        if create and extracted:
            calendar_import_spec(calendar=self, spec=extracted)


class CalendarIntervalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CalendarInterval

    calendar = factory.SubFactory(BusinessCalendarFactory)
    weekday = 0


class SLAPolicyFactory(factory.django.DjangoModelFactory):
    """A policy matching everything; `targets={("first_response", "normal"): 60, ...}`."""

    class Meta:
        model = SLAPolicy
        skip_postgeneration_save = True

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Policy {n}")
    calendar = factory.SubFactory(BusinessCalendarFactory, client=factory.SelfAttribute("..client"))

    @factory.post_generation
    def targets(self, create, extracted, **kwargs):
        if create and extracted:
            for (metric, priority), seconds in extracted.items():
                SLATarget.objects.create(policy=self, metric=metric, priority=priority, seconds=seconds)


class SLATargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLATarget

    policy = factory.SubFactory(SLAPolicyFactory)
    metric = "first_response"
    priority = "normal"
    seconds = 3600


# --- Contacts, surveys, contracts ------------------------------------------------------------------

from decimal import Decimal  # noqa: E402

from cases.choices import AuthorKind, Direction  # noqa: E402
from cases.models import Interaction, SatisfactionSurvey  # noqa: E402
from governance.models import Contract, ContractTerm  # noqa: E402


class InteractionFactory(factory.django.DjangoModelFactory):
    """A bare interaction row; `contact(wait=.., abandoned=.., talk=..)` gives an offered voice
    contact with the queue data the voice adapter records."""

    class Meta:
        model = Interaction

    case = factory.SubFactory(CaseFactory, origin_channel=Channel.VOICE)
    client = factory.SelfAttribute("case.client")
    channel = Channel.VOICE
    direction = Direction.INBOUND
    author_kind = AuthorKind.CUSTOMER
    body = "Inbound call"
    occurred_at = factory.LazyFunction(timezone.now)

    class Params:
        wait = None
        abandoned = False
        talk = None

    @factory.lazy_attribute
    def metadata(self):
        if self.wait is None:
            return {}
        data = {"wait_seconds": self.wait, "abandoned": self.abandoned}
        if self.talk is not None:
            data["talk_seconds"] = self.talk
        return data


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SatisfactionSurvey

    case = factory.SubFactory(CaseFactory)
    client = factory.SelfAttribute("case.client")
    answered_at = factory.LazyFunction(timezone.now)


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    client = factory.SubFactory(ClientFactory)
    monthly_fee = Decimal("10000.00")
    currency = "EUR"
    credit_cap_percent = Decimal(15)
    bonus_cap_percent = Decimal(5)


class ContractTermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContractTerm

    contract = factory.SubFactory(ContractFactory)
    client = factory.SelfAttribute("contract.client")
    kpi = "csat"
    target = Decimal(80)
    effective_from = factory.LazyFunction(lambda: timezone.now().date().replace(day=1, month=1))
