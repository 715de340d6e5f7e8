"""Passes over the IR: structural property checks and folding. Each is a pure function."""
