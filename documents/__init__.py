"""Documents, versions, age encryption and streaming upload and download."""
