"""compat stage."""
