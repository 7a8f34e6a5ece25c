"""SLA engine: business calendars, versioned SLA policies, clocks, breaches and the sweep.
Imports cases; never governance or connectors."""
