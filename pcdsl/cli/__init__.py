"""The `pcc` command line."""
