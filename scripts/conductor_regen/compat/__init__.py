"""compat stage."""

# What marks code kept for the SDK after the server removed it (comments, notes): here, not in codemods, so the
# noxfile's modules that look for it need not import libcst.
DEPRECATION_MARK = "kept for backward compatibility"
