"""The product's values, apart from how they are stored or shown: enumerations and the
clock. Imported by every layer; imports nothing of the application (nor SQLAlchemy, nor Qt)."""
