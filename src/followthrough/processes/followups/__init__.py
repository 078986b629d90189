"""processes/followups."""
