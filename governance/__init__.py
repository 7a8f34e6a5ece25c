"""Governance: escalation tiers and rules, breach reviews, root causes, corrective actions,
meetings, risks, policy change control, contract terms and scorecards. Imports cases and slas."""
