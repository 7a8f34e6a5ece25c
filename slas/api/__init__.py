"""REST API of cases with their SLA state (cases embed their clocks, so these endpoints live
where `slas` may be imported): cases, case actions, sync (upsert by external id, bulk),
incremental export, SLA clocks, breaches and policies. Built on `cases.api`'s plumbing."""
