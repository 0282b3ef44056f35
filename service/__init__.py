"""The HTTP service: every role's way in, authenticated and limited to its own role."""
