"""providers/contracts."""
