"""processes/data_sync."""
