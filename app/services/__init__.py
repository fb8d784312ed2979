"""The product's operations: plain Python over SQLAlchemy sessions, no Qt."""
