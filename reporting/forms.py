"""The reporting pages' shared form: a client among those the user may read, and a period."""

from __future__ import annotations

from django import forms

from cases.models import Client

# The years the reports read: the date arithmetic around a period (the day after its end, its
# local midnight in UTC) overflows at the calendar's ends.
FIRST_YEAR, LAST_YEAR = 1970, 2999


class ClientPeriodForm(forms.Form):
    """`client` limited to `client_ids`; `start` to `end` (both included), at most `max_days`."""

    max_days = 366
    client = forms.ModelChoiceField(queryset=Client.objects.none(), to_field_name="slug")
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (included)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, client_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.filter(pk__in=client_ids).order_by("name")

    def clean(self):
        cleaned = super().clean()
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
                self.add_error(name, f"Choose a day from {FIRST_YEAR} to {LAST_YEAR}.")
                cleaned.pop(name, None)
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The period ends before it starts.")
            elif (end - start).days + 1 > self.max_days:
                self.add_error("end", f"Choose at most {self.max_days} days.")
        return cleaned
