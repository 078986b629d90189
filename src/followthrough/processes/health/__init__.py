"""processes/health."""
