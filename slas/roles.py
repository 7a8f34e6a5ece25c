"""Role permissions on the SLA models (granted by migration `slas.0002_roles`)."""

from cases.choices import Role

_READ = [
    "view_businesscalendar",
    "view_calendarinterval",
    "view_holiday",
    "view_slapolicy",
    "view_slatarget",
    "view_casesla",
    "view_slaclock",
    "view_clockevent",
    "view_breach",
    "view_slawarning",
]
_CALENDARS = [
    "add_businesscalendar",
    "change_businesscalendar",
    "add_calendarinterval",
    "change_calendarinterval",
    "delete_calendarinterval",
    "add_holiday",
    "change_holiday",
    "delete_holiday",
]
_POLICIES = ["add_slapolicy", "change_slapolicy", "add_slatarget", "change_slatarget", "delete_slatarget"]

SLAS_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [
        "view_slapolicy",
        "view_slatarget",
        "view_casesla",
        "view_slaclock",
        "view_clockevent",
        "view_breach",
        "view_slawarning",
    ],
    Role.SUPERVISOR: [*_READ, *_CALENDARS, "change_breach"],
    Role.GOVERNANCE: [*_READ, *_CALENDARS, *_POLICIES, "change_breach"],
    Role.CLIENT_SYSTEM: ["view_slapolicy", "view_slatarget", "view_slaclock", "view_breach"],
}
