"""The Knora Integrations API: integrations, sync jobs, OAuth and the knowledge base."""
