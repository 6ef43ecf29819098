"""Encryption at rest for endpoint API keys: Fernet with a key derived (HKDF-SHA256) from the secret key."""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import Settings

_INFO = b"axon/model-endpoint-api-keys/v1"


def _fernet(settings: Settings) -> Fernet:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO).derive(settings.resolved_secret_key().encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(settings: Settings, plaintext: str) -> str:
    return _fernet(settings).encrypt(plaintext.encode()).decode()


def decrypt(settings: Settings, token: str) -> str | None:
    """The plaintext, or None when the secret key changed since it was stored."""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
