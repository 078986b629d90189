"""processes/integrations."""
