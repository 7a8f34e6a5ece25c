"""Role permissions on the connector models (granted by migration `connectors.0002_roles`).
Connectors, routing and webhooks are configured by supervisors; governance reads them; agents
see inbound events of their clients (to understand where a contact came from)."""

from cases.choices import Role

_READ = [
    "view_connector",
    "view_routingrule",
    "view_inboundevent",
    "view_imapmailboxstate",
    "view_webhooksubscription",
    "view_webhookdelivery",
    "view_webhookattempt",
    "view_alertnotification",
]

CONNECTORS_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: ["view_inboundevent"],
    Role.SUPERVISOR: [
        *_READ,
        "add_connector",
        "change_connector",
        "add_routingrule",
        "change_routingrule",
        "delete_routingrule",
        "change_inboundevent",
        "add_webhooksubscription",
        "change_webhooksubscription",
        "change_webhookdelivery",
    ],
    Role.GOVERNANCE: _READ,
    Role.CLIENT_SYSTEM: [],
}
