"""Remote path: the grid operator's readings through a consent (mandate) service."""
