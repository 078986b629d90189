"""processes/onboarding."""
