"""The audit trail in PostgreSQL: one row per event, recorded once."""
