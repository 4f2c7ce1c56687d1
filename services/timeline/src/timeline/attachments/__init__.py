"""Attachments (t7): streamed uploads to object storage, typed by content, and authorized downloads."""
