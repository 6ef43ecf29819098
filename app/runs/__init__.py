"""Running agents: sync and SSE runs, resume, stored runs and their events (API.md §3)."""
