"""Signed federation messages: CloudEvents bodies with detached JWS signatures, sent, received and pulled."""
