"""processes/inbound."""
