"""Documents: where they are (references), and what they say (text)."""
