"""processes/notifications."""
