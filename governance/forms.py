"""Admin forms of the governance console. Forms that write do it through a service in
`_post_clean` (inside a savepoint), so a refusal shows on the form and changes nothing; the
admin's `save_model` then has nothing left to do."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from cases.access import client_ids_for_user
from cases.choices import CaseStatus, Channel, Priority
from cases.models import Queue
from config.errors import ApplicationError
from slas.models import ENGINE_METRICS, BusinessCalendar, Metric, SLAPolicy

from . import services
from .choices import (
    DisputeStatus,
    TierLevel,
)
from .models import (
    BreachDispute,
    BreachReview,
    CorrectiveAction,
    EscalationRule,
    Exclusion,
    GovernanceMeeting,
    Risk,
    RootCause,
    SLAPolicyChange,
)


def staff_of(client_ids) -> QuerySet:
    """Users who serve one of `client_ids`."""
    return (
        get_user_model()
        .objects.filter(is_active=True, served_clients__in=list(client_ids))
        .distinct()
        .order_by("username")
    )


class ServiceModelForm(forms.ModelForm):
    """A model form whose valid data is written by `call_service(cleaned_data)`."""

    request = None  # set by the admin's get_form

    def call_service(self, data: dict):
        raise NotImplementedError

    def _post_clean(self) -> None:
        if self.errors or (self.instance.pk and not self.has_changed()):
            return
        try:
            with transaction.atomic():
                self.instance = self.call_service(self.cleaned_data)
        except ApplicationError as exc:
            form_fields = set(self.fields)
            placed = False
            for field, messages in exc.field_errors.items():
                if field in form_fields:
                    for message in messages:
                        self.add_error(field, message)
                    placed = True
            if not placed or not exc.field_errors:
                self.add_error(None, exc.message)

    @property
    def user(self):
        return self.request.user


# --- Escalation rules ------------------------------------------------------------------------------


class EscalationRuleForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: any."
    )
    priorities = forms.MultipleChoiceField(
        choices=Priority.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: any."
    )
    metrics = forms.MultipleChoiceField(
        choices=Metric.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="SLA triggers only. None: any.",
    )

    class Meta:
        model = EscalationRule
        fields = [
            "client",
            "name",
            "order",
            "is_active",
            "trigger",
            "channels",
            "priorities",
            "queues",
            "metrics",
            "sentiment_threshold",
            "reopen_count",
            "tier_action",
            "move_to_queue",
            "raise_priority_to",
            "notify_owners",
            "stop_processing",
        ]


# --- Intermediate forms of admin actions ---------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}))

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)


class OptionalNoteForm(ReasonForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}), required=False)


class EscalateForm(forms.Form):
    to_tier = forms.TypedChoiceField(
        choices=[(2, TierLevel.T2.label), (3, TierLevel.T3.label)], coerce=int, label="Escalate to"
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}))
    handoff_channel = forms.ChoiceField(
        choices=[("", "— same channel —"), *Channel.choices],
        required=False,
        help_text="The channel the next tier continues on (e.g. a voice callback after a chat).",
    )
    move_to_queue = forms.ModelChoiceField(queryset=Queue.objects.none(), required=False)

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        client_ids = {case.client_id for case in queryset} if queryset is not None else set()
        allowed = (
            client_ids & client_ids_for_user(request.user) if not request.user.is_superuser else client_ids
        )
        self.fields["move_to_queue"].queryset = Queue.objects.filter(client_id__in=allowed, is_active=True)


class DeescalateForm(ReasonForm):
    to_tier = forms.TypedChoiceField(
        choices=[("", "— the tier it came from —"), *TierLevel.choices],
        coerce=int,
        required=False,
        empty_value=None,
    )


class OpenReviewForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Blank: a title is made up.")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    due_on = forms.DateField(required=False, help_text="Blank: the client's review delay.")

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        client_ids = {row.client_id for row in queryset} if queryset is not None else set()
        self.fields["owner"].queryset = staff_of(client_ids)
        self.fields["owner"].help_text = "Blank: you."


class CloseReviewForm(forms.Form):
    root_cause = forms.ModelChoiceField(queryset=RootCause.objects.filter(is_active=True), required=False)
    findings = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 70}), required=False)

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["root_cause"].help_text = "Blank: the review's own."
        self.fields["findings"].help_text = "Blank: the review's own."


class RaiseActionForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}), required=False)
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    due_on = forms.DateField()

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        client_ids = {row.client_id for row in queryset} if queryset is not None else set()
        self.fields["owner"].queryset = staff_of(client_ids)


class DisputeDecisionForm(ReasonForm):
    outcome = forms.ChoiceField(
        choices=[
            (s.value, s.label) for s in (DisputeStatus.ACCEPTED, DisputeStatus.WAIVED, DisputeStatus.UPHELD)
        ]
    )


class ContestForm(forms.Form):
    grounds = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}))
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 70}), required=False)

    def __init__(self, *args, request=None, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)


# --- Add / change forms backed by services --------------------------------------------------------------


class CorrectiveActionForm(ServiceModelForm):
    class Meta:
        model = CorrectiveAction
        fields = [
            "client",
            "review",
            "meeting",
            "title",
            "description",
            "owner",
            "due_on",
            "root_cause",
            "queue",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "client" in self.fields:
            self.fields["client"].required = False
            self.fields["client"].help_text = "Blank: the review's or meeting's client."

    def call_service(self, data):
        if self.instance.pk:
            return services.corrective_action_update(
                action=self.instance,
                actor=self.user,
                title=data["title"],
                description=data["description"],
                owner=data["owner"],
                due_on=data["due_on"],
                root_cause=data["root_cause"],
            )
        return services.corrective_action_raise(
            client=data.get("client"),
            review=data.get("review"),
            meeting=data.get("meeting"),
            title=data["title"],
            description=data["description"],
            owner=data["owner"],
            due_on=data["due_on"],
            root_cause=data.get("root_cause"),
            queue=data.get("queue"),
            actor=self.user,
        )


class BreachReviewForm(ServiceModelForm):
    class Meta:
        model = BreachReview
        fields = ["title", "owner", "due_on", "root_cause", "findings"]

    def call_service(self, data):
        return services.breach_review_update(review=self.instance, actor=self.user, **data)


class RiskForm(ServiceModelForm):
    class Meta:
        model = Risk
        fields = [
            "client",
            "title",
            "description",
            "likelihood",
            "impact",
            "owner",
            "mitigation",
            "review_on",
            "status",
        ]

    def call_service(self, data):
        if self.instance.pk:
            return services.risk_update(risk=self.instance, actor=self.user, **data)
        return services.risk_raise(actor=self.user, **{k: v for k, v in data.items() if k != "status"})


class MeetingForm(ServiceModelForm):
    class Meta:
        model = GovernanceMeeting
        fields = [
            "client",
            "kind",
            "title",
            "scheduled_for",
            "chair",
            "attendees",
            "external_attendees",
            "minutes",
            "decisions",
            "governance_rating",
            "rating_notes",
        ]
        widgets = {"attendees": forms.CheckboxSelectMultiple}

    def call_service(self, data):
        if not self.instance.pk:
            return services.meeting_schedule(
                client=data["client"],
                kind=data["kind"],
                scheduled_for=data["scheduled_for"],
                title=data.get("title", ""),
                chair=data.get("chair"),
                attendees=list(data.get("attendees") or []),
                actor=self.user,
            )
        meeting = self.instance
        if not data.get("minutes", "").strip() and meeting.status == "planned":
            meeting = services.meeting_attendees_set(
                meeting=meeting,
                actor=self.user,
                attendees=list(data.get("attendees") or []),
                external_attendees=data.get("external_attendees", ""),
            )
        else:
            meeting = services.meeting_record(
                meeting=meeting,
                actor=self.user,
                minutes=data.get("minutes", ""),
                decisions=data.get("decisions", ""),
                attendees=list(data.get("attendees") or []),
                external_attendees=data.get("external_attendees", ""),
            )
        if data.get("governance_rating") and (
            data["governance_rating"] != meeting.governance_rating
            or data.get("rating_notes", "") != meeting.rating_notes
        ):
            meeting = services.meeting_rate(
                meeting=meeting,
                actor=self.user,
                rating=data["governance_rating"],
                notes=data.get("rating_notes", ""),
            )
        return meeting


class ExclusionForm(ServiceModelForm):
    class Meta:
        model = Exclusion
        fields = [
            "client",
            "scope",
            "clock",
            "case",
            "starts_at",
            "ends_at",
            "reason_kind",
            "reason",
            "evidence",
        ]

    def call_service(self, data):
        return services.exclusion_propose(actor=self.user, **data)


class DisputeForm(ServiceModelForm):
    class Meta:
        model = BreachDispute
        fields = ["breach", "grounds", "evidence"]

    def call_service(self, data):
        return services.dispute_raise(actor=self.user, **data)


# --- SLA policy change proposal ---------------------------------------------------------------------------

PAUSABLE = [
    (CaseStatus.PENDING.value, CaseStatus.PENDING.label),
    (CaseStatus.ON_HOLD.value, CaseStatus.ON_HOLD.label),
]


def target_field_name(metric: str, priority: str) -> str:
    return f"target__{metric}__{priority}"


class PolicyChangeForm(ServiceModelForm):
    """The whole proposed policy: its fields and one target field per metric and priority
    (blank: no target), prefilled from the policy as it is."""

    name = forms.CharField(max_length=120)
    order = forms.IntegerField(min_value=0, max_value=services.MAX_ORDER)
    is_active = forms.BooleanField(required=False)
    channels = forms.MultipleChoiceField(
        choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    priorities = forms.MultipleChoiceField(
        choices=Priority.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    segments = forms.CharField(required=False, help_text="Comma-separated customer segments; blank: any.")
    queues = forms.ModelMultipleChoiceField(
        queryset=Queue.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    calendar = forms.ModelChoiceField(queryset=BusinessCalendar.objects.none())
    warning_percent = forms.IntegerField(min_value=0, max_value=100)
    effective_at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime, help_text="When the change takes effect (applied by a scheduled task)."
    )

    class Meta:
        model = SLAPolicyChange
        fields = ["policy", "reason", "effective_at"]
        widgets = {"policy": forms.HiddenInput}

    def __init__(self, *args, policy: SLAPolicy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        for metric in ENGINE_METRICS:
            self.fields[f"pause__{metric}"] = forms.MultipleChoiceField(
                choices=PAUSABLE,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                label=f"Pause {Metric(metric).label.lower()} in",
            )
            for priority in Priority.values:
                self.fields[target_field_name(metric, priority)] = forms.IntegerField(
                    min_value=1,
                    max_value=services.MAX_TARGET_SECONDS,
                    required=False,
                    label=f"{Metric(metric).label} / {priority} (seconds)",
                )
        if policy is None:
            return
        self.fields["policy"].queryset = SLAPolicy.objects.filter(pk=policy.pk)
        self.fields["queues"].queryset = Queue.objects.filter(client_id=policy.client_id)
        self.fields["calendar"].queryset = BusinessCalendar.objects.filter(client_id=policy.client_id)
        if not self.is_bound:
            data = services.policy_data(policy)
            self.initial.update(
                {
                    "policy": policy.pk,
                    "name": data["name"],
                    "order": data["order"],
                    "is_active": data["is_active"],
                    "channels": data["channels"],
                    "priorities": data["priorities"],
                    "segments": ", ".join(data["segments"]),
                    "queues": data["queues"],
                    "calendar": data["calendar"],
                    "warning_percent": data["warning_percent"],
                }
            )
            for metric in ENGINE_METRICS:
                self.initial[f"pause__{metric}"] = data["pause_statuses"].get(metric, [])
            for key, seconds in data["targets"].items():
                metric, _, priority = key.partition(":")
                self.initial[target_field_name(metric, priority)] = seconds

    def proposed_data(self, data: dict) -> dict:
        targets = {}
        for metric in ENGINE_METRICS:
            for priority in Priority.values:
                value = data.get(target_field_name(metric, priority))
                if value:
                    targets[f"{metric}:{priority}"] = value
        return {
            "name": data["name"],
            "order": data["order"],
            "is_active": bool(data.get("is_active")),
            "channels": list(data.get("channels") or []),
            "priorities": list(data.get("priorities") or []),
            "segments": [s.strip() for s in (data.get("segments") or "").split(",") if s.strip()],
            "queues": sorted(q.pk for q in data.get("queues") or []),
            "calendar": data["calendar"].pk,
            "warning_percent": data["warning_percent"],
            "pause_statuses": {metric: list(data.get(f"pause__{metric}") or []) for metric in ENGINE_METRICS},
            "targets": targets,
        }

    def call_service(self, data):
        return services.policy_change_propose(
            policy=data["policy"],
            proposed=self.proposed_data(data),
            reason=data["reason"],
            effective_at=data["effective_at"],
            actor=self.user,
        )


def policies_for(user):
    """Policies of the user's clients (for the proposal chooser)."""
    queryset = SLAPolicy.objects.select_related("client").order_by("client__name", "order")
    if user.is_superuser:
        return queryset
    return queryset.filter(client_id__in=client_ids_for_user(user))
