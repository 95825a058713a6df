"""Persistence: SQLModel tables, the engine, migrations and the one write path (the ledger)."""
