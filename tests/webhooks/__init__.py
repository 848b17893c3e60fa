"""Tests of the signed inbound webhook."""
