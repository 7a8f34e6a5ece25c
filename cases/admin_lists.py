"""Admin lists of the tables that grow with traffic (cases, interactions, timelines, clocks,
inbound events, webhook deliveries): a page reads its rows and its count, and nothing that
grows with the table.

Django's defaults each read the whole table on every page view:

- the model's ordering (`-occurred_at`, `-opened_at`...) sorts every row when no index leads
  with it: a list is shown newest first by primary key instead (its index, read backwards);
- `date_hierarchy` asks for the distinct months of every row: a date list filter (today, past
  7 days, this month, this year) narrows by a range instead;
- the count of the unfiltered table beside the filtered one is not shown.

`python bench/bench_admin.py` (200,000 cases, 1,000,000 inbound events): every such list answers
with a p50 under 0.3 s, where the slowest took 3.3 s before (docs/decisions/0013).
"""

from __future__ import annotations

from django.contrib import admin


class GrowingListMixin:
    """A ModelAdmin mixin; `list_date_field` names the date the list filters on."""

    list_date_field: str = ""
    show_full_result_count = False
    # An attribute, not get_ordering(): the list's column headers read it to mark the sort.
    ordering = ("-pk",)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if self.list_date_field:
            filters.insert(0, (self.list_date_field, admin.DateFieldListFilter))
        return filters


def fixed_values_filter(field: str, title: str, values: list[tuple[int | str, str]]):
    """A list filter on `field` offering `values` (value, label) without reading the table, for
    a small known range (a case's tier, a CSAT score) where Django's default filter would ask
    the whole table for its distinct values."""

    class FixedValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(str(value), label) for value, label in values]

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    FixedValuesFilter.title = title
    return FixedValuesFilter
