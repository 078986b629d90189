"""processes/payments."""
