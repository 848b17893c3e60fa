"""Tests of the Haiilo connector against a fake Haiilo over real HTTP."""
