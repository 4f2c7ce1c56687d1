"""Yui notify: in-app, live and e-mail notifications."""
