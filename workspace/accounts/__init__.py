"""Accounts glue: the user model with profile fields, allauth and MFA adapters."""
