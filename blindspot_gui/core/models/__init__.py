"""Networks: where they come from, how they are loaded, and the cache of those loaded."""
