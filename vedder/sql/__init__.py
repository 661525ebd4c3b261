"""Everything SQL, through sqlglot: the guard, analysis, fingerprints, and guarded execution."""
