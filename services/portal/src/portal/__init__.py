"""Yui portal: the public site and the staff UI, served through the gateway."""
