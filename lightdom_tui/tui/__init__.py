"""The Textual app. It talks only to services (never to the database directly)."""
