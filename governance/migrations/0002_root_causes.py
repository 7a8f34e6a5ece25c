"""Seed the root-cause taxonomy: six categories and their causes (codes are stable; names and
descriptions can be edited in admin, with history)."""

from django.db import migrations

TAXONOMY = {
    ("people", "People"): [
        ("people-staffing", "Staffing below plan", "Fewer agents logged in than the forecast needed."),
        ("people-skills", "Skills or training gap", "The agent lacked the training or skill for the contact."),
        ("people-adherence", "Schedule adherence", "Agents not available when scheduled (breaks, late log-in)."),
        ("people-error", "Agent error", "A mistake in handling: wrong answer, missed follow-up."),
    ],
    ("process", "Process"): [
        ("process-handoff", "Handoff gap", "Work lost or delayed between teams, tiers or channels."),
        ("process-procedure", "Unclear or missing procedure", "No procedure, or one that does not fit the case."),
        ("process-approval", "Approval delay", "Waiting on an internal approval or sign-off."),
        ("process-routing", "Wrong routing", "The contact reached the wrong queue or skill."),
    ],
    ("platform", "Platform"): [
        ("platform-outage", "System outage", "A system agents need was down."),
        ("platform-performance", "Slow tools", "Tools too slow to handle contacts in time."),
        ("platform-integration", "Integration failure", "Data did not flow between systems (CRM, telephony)."),
        ("platform-configuration", "Misconfiguration", "Queues, rules or SLA policies set up wrongly."),
    ],
    ("knowledge", "Knowledge"): [
        ("knowledge-missing", "Missing article", "No knowledge-base answer for the question."),
        ("knowledge-outdated", "Outdated article", "The knowledge base gave a wrong or old answer."),
    ],
    ("demand", "Demand"): [
        ("demand-spike", "Volume spike", "Contacts far above the forecast."),
        ("demand-campaign", "Unannounced campaign or launch", "A client action drove contacts nobody planned for."),
        ("demand-forecast", "Forecast error", "The forecast itself was wrong for the period."),
    ],
    ("third-party", "Third party"): [
        ("third-party-vendor", "Vendor or carrier delay", "A supplier, carrier or partner was late."),
        ("third-party-client", "Client-side delay", "Waiting on the client's own teams or systems."),
        ("third-party-telecom", "Telecom provider issue", "Lines, numbers or messaging provider failures."),
    ],
}


def forwards(apps, schema_editor):
    root_cause = apps.get_model("governance", "RootCause")
    for (code, name), children in TAXONOMY.items():
        parent, _ = root_cause.objects.get_or_create(code=code, defaults={"name": name})
        for child_code, child_name, description in children:
            root_cause.objects.get_or_create(
                code=child_code, defaults={"name": child_name, "parent": parent, "description": description}
            )


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
