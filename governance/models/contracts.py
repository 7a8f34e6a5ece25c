"""A client's contract (monthly fee, caps), its KPI terms, and monthly scorecards."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.choices import Channel
from cases.models import Client

from ..choices import KPI

PERCENT = [MinValueValidator(Decimal(0))]
_PERCENT_FIELD = {"max_digits": 5, "decimal_places": 2, "validators": PERCENT}


class Contract(models.Model):
    """What a client pays per month and how much of it is at risk (credits) or to be earned
    (bonuses) at most, as a percent of the monthly fee."""

    client = models.OneToOneField(Client, on_delete=models.PROTECT, related_name="contract")
    reference = models.CharField(max_length=60, blank=True, default="")
    monthly_fee = models.DecimalField(max_digits=12, decimal_places=2, validators=PERCENT)
    currency = models.CharField(max_length=3, default="EUR")
    credit_cap_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal(15), validators=PERCENT, help_text="Fee at risk, %."
    )
    bonus_cap_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal(5), validators=PERCENT, help_text="Bonus pool, %."
    )
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.client} contract {self.reference}".strip()


class Comparator(models.TextChoices):
    AT_LEAST = "gte", "at least (≥)"
    AT_MOST = "lte", "at most (≤)"


class CreditMode(models.TextChoices):
    BANDS = "bands", "by attainment band"
    PER_POINT = "per_point", "per point of shortfall"


class ContractTerm(models.Model):
    """One KPI the client's contract scores monthly: target, weight, and what missing or beating
    it costs or earns (see governance.credits)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="terms")
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="contract_terms", db_index=False
    )
    kpi = models.CharField(max_length=40, choices=KPI.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    threshold_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Service level only: answered within this many seconds."
    )
    comparator = models.CharField(max_length=3, choices=Comparator.choices, default=Comparator.AT_LEAST)
    target = models.DecimalField(max_digits=9, decimal_places=2)
    weight = models.PositiveSmallIntegerField(default=1)
    credit_mode = models.CharField(max_length=10, choices=CreditMode.choices, default=CreditMode.PER_POINT)
    credit_bands = models.JSONField(
        default=list,
        blank=True,
        help_text='Bands on the actual: [{"min": 95, "max": 98, "percent": 2}, {"max": 90, "percent": 10}].',
    )
    credit_per_point_percent = models.DecimalField(**_PERCENT_FIELD, default=0)
    credit_cap_percent = models.DecimalField(**_PERCENT_FIELD, null=True, blank=True)
    bonus_per_point_percent = models.DecimalField(**_PERCENT_FIELD, default=0)
    bonus_cap_percent = models.DecimalField(**_PERCENT_FIELD, null=True, blank=True)
    earn_back_months = models.PositiveSmallIntegerField(
        default=0, help_text="A credit is given back when the term is met this many months running after it."
    )
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Last day in force (empty: open-ended).")
    history = HistoricalRecords()

    class Meta:
        ordering = ["client", "kpi", "channel", "effective_from"]
        indexes = [models.Index(fields=["client", "effective_from"], name="term_client_from")]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="term_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        channel = f" ({self.get_channel_display()})" if self.channel else ""
        return f"{self.get_kpi_display()}{channel} {self.get_comparator_display()} {self.target}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.credit_bands is None:  # the admin's JSON field reads a cleared box as null
            self.credit_bands = []
        if self.contract_id and self.client_id and self.contract.client_id != self.client_id:
            errors.setdefault("client", []).append("The term's client must be its contract's client.")
        if self.kpi == KPI.SERVICE_LEVEL and not self.threshold_seconds:
            errors.setdefault("threshold_seconds", []).append("A service level term needs its threshold.")
        if self.credit_mode == CreditMode.BANDS:
            try:
                from ..services.scorecards import parse_bands

                parse_bands(self.credit_bands)
            except ValueError as exc:
                errors.setdefault("credit_bands", []).append(str(exc))
        if self.effective_to and self.effective_from and self.effective_to < self.effective_from:
            errors.setdefault("effective_to", []).append("The term cannot end before it starts.")
        if self.client_id and self.effective_from:
            same = ContractTerm.objects.filter(client_id=self.client_id, kpi=self.kpi, channel=self.channel)
            overlapping = same.exclude(pk=self.pk).filter(
                Q(effective_to__isnull=True) | Q(effective_to__gte=self.effective_from)
            )
            if self.effective_to:
                overlapping = overlapping.filter(effective_from__lte=self.effective_to)
            if overlapping.exists():
                errors.setdefault("effective_from", []).append(
                    "Another term for this KPI and channel is in force over part of this period."
                )
        if errors:
            raise ValidationError(errors)


class ScorecardStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FROZEN = "frozen", "Frozen"


class Scorecard(models.Model):
    """A client's month scored against its contract terms: one line per term in force, the credit
    owed, the bonus earned and credits earned back. Frozen at month end (scheduled task) with the
    figures it was built from (`data`), so it renders the same later; recomputed on demand while
    draft, or after an explicit reopen."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="scorecards", db_index=False)
    period = models.DateField(help_text="First day of the month scored.")
    status = models.CharField(max_length=8, choices=ScorecardStatus.choices, default=ScorecardStatus.DRAFT)
    monthly_fee = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    credit_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    bonus_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    earned_back_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    score_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Weighted share of terms met."
    )
    data = models.JSONField(default=dict, blank=True, help_text="The figures the scorecard was built from.")
    computed_at = models.DateTimeField()
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period", "client"]
        constraints = [models.UniqueConstraint(fields=["client", "period"], name="scorecard_one_per_month")]

    def __str__(self) -> str:
        return f"{self.client} scorecard {self.period:%Y-%m}"

    @property
    def net_total(self) -> Decimal:
        return self.bonus_total + self.earned_back_total - self.credit_total


class ScorecardLine(models.Model):
    # What a line reports (admin inline, API).
    REPORTED_FIELDS = (
        "kpi",
        "channel",
        "comparator",
        "target",
        "weight",
        "actual",
        "numerator",
        "denominator",
        "met",
        "credit_percent",
        "credit",
        "bonus_percent",
        "bonus",
        "earned_back",
    )

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="lines")
    term = models.ForeignKey(ContractTerm, null=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    kpi = models.CharField(max_length=40, choices=KPI.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="")
    comparator = models.CharField(max_length=3, choices=Comparator.choices)
    target = models.DecimalField(max_digits=9, decimal_places=2)
    weight = models.PositiveSmallIntegerField(default=1)
    actual = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    numerator = models.FloatField(default=0)
    denominator = models.FloatField(default=0)
    met = models.BooleanField(null=True, help_text="Empty: no data in the month.")
    credit_percent = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    credit = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    bonus_percent = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    bonus = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    earned_back = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        ordering = ["scorecard", "position"]

    def __str__(self) -> str:
        return f"{self.get_kpi_display()} {self.actual} / {self.target}"
