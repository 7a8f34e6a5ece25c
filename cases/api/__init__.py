"""REST API of the case domain (/api/v1/): client-system keys, the shared API plumbing (auth,
permissions, throttling, keyset pagination, idempotency, schema) and the customer, queue,
interaction, timeline and satisfaction endpoints. Imports only `cases` and `config`; the case
endpoints that embed SLA clocks live in `slas.api`."""
