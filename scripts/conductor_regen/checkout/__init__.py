"""sdk stage."""
