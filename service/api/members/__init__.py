"""Members: onboarding (custodial or self-custodied), the registry, suspension."""
