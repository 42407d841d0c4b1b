"""Everything that imports SQLAlchemy lives under this package."""
