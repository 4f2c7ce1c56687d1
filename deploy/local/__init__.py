"""`make run`: start Yui on one machine without containers."""
