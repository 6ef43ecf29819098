"""Server-owned conversation history (API.md §3.6)."""
