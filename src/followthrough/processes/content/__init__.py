"""processes/content."""
