"""reformwatch: inspection-campaign data pipeline (landing zone -> DuckDB -> dbt marts)."""

__version__ = "0.1.0"
