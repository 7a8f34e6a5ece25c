"""Delete the whole demo data set, children first: for the tests that load the demo twice."""

from __future__ import annotations


def demo_wipe() -> None:
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
    from connectors.models import Connector
    from governance.demo import governance_wipe
    from slas.models import (
        Breach,
        BusinessCalendar,
        CaseSLA,
        ClockEvent,
        Holiday,
        SLAClock,
        SLAPolicy,
        SLATarget,
        SLAWarning,
    )

    governance_wipe()
    for model in (
        Connector,
        Breach,
        SLAWarning,
        ClockEvent,
        SLAClock,
        CaseSLA,
        SLATarget,
        SLAPolicy,
        Holiday,
        BusinessCalendar,
        SatisfactionSurvey,
        CaseEvent,
        Interaction,
        Case,
        CustomerIdentity,
        Customer,
        Queue,
        Client,
    ):
        model.objects.all().delete()
