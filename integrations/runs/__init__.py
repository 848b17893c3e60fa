"""The run engine: a job from request to end (engine), its lease (jobs), pull, an integration's state."""
