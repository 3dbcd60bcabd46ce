"""Exception hierarchy of the age implementation.

Every failure caused by the input (a malformed file, a wrong key, a tampered
payload, an unsupported feature) is reported as a subclass of `AgeError`, so
callers can catch that single type at the trust boundary.
"""


class AgeError(Exception):
    """Base class of every error raised for bad or unsupported age input."""


class HeaderError(AgeError):
    """The header (or the payload nonce right after it) is malformed or truncated."""


class NoMatchError(AgeError):
    """The header parsed, but no recipient stanza could be opened with the identities."""


class HMACError(AgeError):
    """A file key was unwrapped, but the header MAC does not verify."""


class PayloadError(AgeError):
    """The STREAM payload is truncated, has trailing data or fails authentication."""


class UnsupportedError(AgeError):
    """A valid but unsupported feature: ASCII armor, scrypt, post-quantum or plugin keys."""


class KeyFormatError(AgeError, ValueError):
    """An identity (secret key) or recipient (public key) string is malformed."""
