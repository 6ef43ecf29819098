"""Model references: provider strings, admin-managed OpenAI-compatible endpoints, the shared HTTP client."""
