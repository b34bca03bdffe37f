"""Local path: read, frame and decode P1 telegrams. Knows nothing of entities."""
