"""Storage: SQLAlchemy models and database sessions."""
