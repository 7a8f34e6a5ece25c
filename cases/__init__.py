"""Cases: clients, customers and their identities, queues, cases, interactions, satisfaction
surveys, the per-case timeline, and the case lifecycle services.

Imports no other Accord app (import-linter enforces it). Other apps react to the events in
`cases.events`, published through `config.events`.
"""
