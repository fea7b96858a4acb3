"""Point-in-time features computed from the data contract's `leads` and `activities` tables."""
