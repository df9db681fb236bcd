"""The domain: plain functions that check permissions, change rows and flush, never commit."""
