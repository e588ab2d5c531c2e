"""GovFlow runtime: engine, storage, timers, web, auth, calendar and CLI."""
