"""Forms of the workspace: they parse and validate input; the services decide. A refused request's
`ApplicationError.field_errors` are put back on the form (`add_service_errors`)."""

from __future__ import annotations

from django import forms

from cases.choices import UNRESOLVED_STATUSES, CaseStatus, Channel, Priority
from cases.services import TRANSITIONS
from config.errors import ApplicationError

BODY_MAX = 20_000
REASON_MAX = 2_000


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form: field errors on their fields, the rest on top."""
    placed = False
    for field, messages in error.field_errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class CaseForm(forms.Form):
    """A form of the case page; `action` names it and prefixes its element ids (several forms on
    one page have a `reason` field)."""

    action = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.action}-%s")
        super().__init__(*args, **kwargs)


class VersionedForm(CaseForm):
    """A change to the case, made against the version the user saw (optimistic locking). The
    page renders the hidden field from the case itself, so after a conflict it carries the
    version now shown."""

    expected_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class ReplyForm(CaseForm):
    action = "reply"
    channel = forms.ChoiceField(choices=())
    body = forms.CharField(
        label="Message", max_length=BODY_MAX, strip=True, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, channels: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = channels
        if channels:
            self.fields["channel"].initial = channels[0][0]


class NoteForm(CaseForm):
    action = "note"
    body = forms.CharField(
        label="Note (only staff see it)",
        max_length=BODY_MAX,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def status_choices(current: str) -> list[tuple[str, str]]:
    """Where the status select may go from `current` (resolve and reopen have their own forms)."""
    targets = TRANSITIONS.get(current, frozenset()) - {CaseStatus.RESOLVED}
    if current == CaseStatus.RESOLVED:
        targets -= {CaseStatus.OPEN}
    return [(value, label) for value, label in CaseStatus.choices if value in targets]


class StatusForm(VersionedForm):
    action = "status"
    status = forms.ChoiceField(choices=())
    reason = forms.CharField(max_length=REASON_MAX, required=False, strip=True)

    def __init__(self, *args, current: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = status_choices(current)


class PriorityForm(VersionedForm):
    action = "priority"
    priority = forms.ChoiceField(choices=Priority.choices)
    reason = forms.CharField(max_length=REASON_MAX, required=False, strip=True)


class EscalateForm(VersionedForm):
    action = "escalate"
    to_tier = forms.TypedChoiceField(
        choices=[("", "Next tier"), ("2", "T2 specialist"), ("3", "T3 supervisor / client liaison")],
        coerce=int,
        empty_value=None,
        required=False,
    )
    handoff_channel = forms.ChoiceField(
        choices=[("", "Same channel"), *Channel.choices], required=False, label="Continue on"
    )
    reason = forms.CharField(max_length=REASON_MAX, strip=True)


class ResolveForm(VersionedForm):
    action = "resolve"
    first_contact_resolution = forms.BooleanField(required=False, label="Resolved on first contact")
    reason = forms.CharField(max_length=REASON_MAX, required=False, strip=True)


class ReopenForm(VersionedForm):
    action = "reopen"
    reason = forms.CharField(max_length=REASON_MAX, strip=True)


class PickUpForm(VersionedForm):
    action = "pick-up"


class AssignForm(VersionedForm):
    """Reassign to one of `people` (the queue's agents and supervisors); empty unassigns."""

    action = "assign"

    assignee = forms.TypedChoiceField(choices=(), coerce=int, empty_value=None, required=False)
    reason = forms.CharField(max_length=REASON_MAX, required=False, strip=True)

    def __init__(self, *args, people: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.people = {user.pk: user for user in people}
        self.fields["assignee"].choices = [("", "Unassigned")] + [
            (user.pk, user.get_full_name() or user.get_username()) for user in people
        ]

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        return self.people.get(value) if value is not None else None


class WorkFilterForm(forms.Form):
    """Filters of my work. Invalid values are ignored (the field is left out)."""

    queue = forms.TypedChoiceField(choices=(), coerce=int, empty_value=None, required=False)
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    priority = forms.ChoiceField(choices=[("", "Any priority"), *Priority.choices], required=False)
    status = forms.ChoiceField(
        choices=[("", "Any open status")] + [(s.value, s.label) for s in UNRESOLVED_STATUSES], required=False
    )
    scope = forms.ChoiceField(
        choices=[("", "Mine and unassigned"), ("mine", "Assigned to me"), ("unassigned", "Unassigned")],
        required=False,
    )

    def __init__(self, *args, queues: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "All my queues")] + [
            (queue.pk, f"{queue.client.name} · {queue.name}") for queue in queues
        ]

    def valid_values(self) -> dict:
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
