"""Who is asking (authentication) and what they may do (the one access check)."""
