"""processes/campaigns."""
