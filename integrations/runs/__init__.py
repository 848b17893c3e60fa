"""The run engine: jobs and their leases (jobs), the pull loop (pull), an integration's state (state)."""
