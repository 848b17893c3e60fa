"""Benchmarks run against a real gunicorn and PostgreSQL; not part of the application."""
