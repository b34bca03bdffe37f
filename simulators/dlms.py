"""Encrypt telegrams as DLMS general-global-cipher frames (Luxembourg Smarty).

Frame layout (all lengths in bytes)::

    0xDB                    general-global-cipher tag
    0x08                    length of the system title
    system title (8)
    0x82 LL LL              length of the rest, big-endian
    0x30                    security control: encrypted and authenticated, suite 0
    invocation counter (4)  big-endian, incremented for every frame
    ciphertext              AES-128-GCM of the plaintext telegram
    tag (12)                GCM tag, truncated to 12 bytes

The GCM nonce is the system title followed by the invocation counter; the
additional authenticated data is the security control byte followed by the
authentication key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_ENCRYPTION_KEY = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
"""Encryption key used when none is given (a test key, 32 hex digits)."""
DEFAULT_AUTHENTICATION_KEY = "00112233445566778899AABBCCDDEEFF"
"""The public authentication key from the Luxembourg Smarty specification."""
DEFAULT_SYSTEM_TITLE = b"SAGy\x00\xbc\x61\x4e"
"""System title used when none is given (manufacturer "SAG" + serial)."""

GENERAL_GLOBAL_CIPHER_TAG = 0xDB
SECURITY_CONTROL = 0x30
TAG_LENGTH = 12


def parse_key(key: str | bytes) -> bytes:
    """Return a 16-byte AES key given as 32 hex digits (or bytes)."""
    raw = bytes.fromhex(key) if isinstance(key, str) else bytes(key)
    if len(raw) != 16:
        msg = "keys must be 16 bytes (32 hex digits)"
        raise ValueError(msg)
    return raw


def encrypt_frame(
    plaintext: bytes,
    *,
    encryption_key: bytes,
    authentication_key: bytes,
    system_title: bytes,
    invocation_counter: int,
) -> bytes:
    """One general-global-cipher frame carrying ``plaintext``."""
    if len(system_title) != 8:
        msg = "the system title must be 8 bytes"
        raise ValueError(msg)
    counter = invocation_counter.to_bytes(4, "big")
    encryptor = Cipher(
        algorithms.AES(encryption_key), modes.GCM(system_title + counter)
    ).encryptor()
    encryptor.authenticate_additional_data(
        bytes([SECURITY_CONTROL]) + authentication_key
    )
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    content = (
        bytes([SECURITY_CONTROL]) + counter + ciphertext + encryptor.tag[:TAG_LENGTH]
    )
    return (
        bytes([GENERAL_GLOBAL_CIPHER_TAG, len(system_title)])
        + system_title
        + b"\x82"
        + len(content).to_bytes(2, "big")
        + content
    )


class DlmsEncryptor:
    """Encrypts successive telegrams with an incrementing invocation counter."""

    def __init__(
        self,
        encryption_key: str | bytes = DEFAULT_ENCRYPTION_KEY,
        authentication_key: str | bytes = DEFAULT_AUTHENTICATION_KEY,
        *,
        system_title: bytes = DEFAULT_SYSTEM_TITLE,
        invocation_counter: int = 1,
    ) -> None:
        """Keys as 32 hex digits or 16 bytes; the counter is that of the first frame."""
        self.encryption_key = parse_key(encryption_key)
        self.authentication_key = parse_key(authentication_key)
        self.system_title = system_title
        self.invocation_counter = invocation_counter
        """The counter the next frame will carry."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt one telegram and advance the invocation counter."""
        frame = encrypt_frame(
            plaintext,
            encryption_key=self.encryption_key,
            authentication_key=self.authentication_key,
            system_title=self.system_title,
            invocation_counter=self.invocation_counter,
        )
        self.invocation_counter = (self.invocation_counter + 1) & 0xFFFFFFFF
        return frame
