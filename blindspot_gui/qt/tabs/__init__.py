"""The window's tabs: each a controller that starts core functions through the task runner and shows their results."""
