"""Helpers for running GovFlow against real servers in tests and the bench (not part of the
product): `testing.pgtemp.PostgresServer`, a throwaway PostgreSQL server."""
