"""Shared support for the examples' tests: start Warden, provision it, attack the services."""
