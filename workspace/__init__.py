"""The agent workspace: server-rendered pages (htmx 2) where agents and supervisors work cases —
my work by SLA urgency, the case page with its unified timeline and live clocks, the supervisor
board. It composes the domain apps (cases, slas, governance, connectors) through their services
and selectors; no domain app imports it (import-linter contract, docs/decisions/0002)."""
