"""processes/deployments."""
