"""Yui timeline: posts per subject, replies, read marks, attachments in object storage, groups."""
