"""JWT auth tokens (etcd's `--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...`).

Theory of operation. A token is a JWT signed with the member's key, claiming `username`,
`revision` (the auth revision when it was given) and `exp` (now + ttl, default 5 min), as
etcd's. Any member holding the public key can check it, so nothing about tokens is kept or
replicated: after any auth change a token's revision is old, and requests made with it get
`revision of auth store is old` (clients log in again). A member given only the public key
checks tokens and cannot give any out. Verification accepts only the configured algorithm,
so a token with `alg: none` or signed with another key or method is an invalid token.

Must never: accept a token whose signature, algorithm or expiry does not check out.
"""
from __future__ import annotations

import time

from petcd.common.config import go_duration_s

DEFAULT_TTL_S = 300.0
_OPTIONS = ("pub-key", "priv-key", "sign-method", "ttl")


class JwtError(ValueError):
    """A bad --auth-token option: the message is one line for the user."""


def parse_options(text: str) -> dict[str, str] | None:
    """--auth-token's options as a dict for `jwt,...`, None for `simple`."""
    kind, _, rest = text.partition(",")
    if kind == "simple":
        return None
    if kind != "jwt":
        raise JwtError(f"--auth-token: unknown token type {kind!r} (simple or jwt)")
    opts = {}
    for part in filter(None, rest.split(",")):
        name, eq, value = part.partition("=")
        if not eq or name not in _OPTIONS:
            raise JwtError(f"--auth-token: unknown option {part!r} (want "
                           f"{', '.join(o + '=' for o in _OPTIONS)})")
        opts[name] = value
    return opts


class JwtTokens:
    def __init__(self, options: dict[str, str]) -> None:
        import jwt  # PyJWT and cryptography load only for a member that uses JWTs
        method = options.get("sign-method", "")
        if method == "none":
            raise JwtError("--auth-token: sign-method none is not allowed")
        try:
            jwt.get_algorithm_by_name(method)
        except (NotImplementedError, KeyError):
            raise JwtError(f"--auth-token: invalid auth method {method!r}") from None
        self.algorithm = method
        try:
            self.ttl_s = go_duration_s(options["ttl"]) if options.get("ttl") else DEFAULT_TTL_S
        except ValueError:
            raise JwtError(f"--auth-token: bad ttl {options['ttl']!r}") from None
        priv, pub = options.get("priv-key"), options.get("pub-key")
        try:
            self._sign_key = open(priv, "rb").read() if priv else None
            verify = open(pub, "rb").read() if pub else None
        except OSError as e:
            raise JwtError(f"--auth-token: {e}") from None
        if method.startswith("HS"):
            verify = self._sign_key  # a shared secret (etcd reads it from priv-key)
        elif verify is None and self._sign_key is not None:
            verify = self._public_of(self._sign_key)
        if verify is None:
            raise JwtError("--auth-token: jwt needs pub-key or priv-key")
        self._verify_key = verify
        if self._sign_key is not None:  # a pair that does not match fails here, not later
            probe = self.assign("probe", 0)
            if self.info(probe) is None:
                raise JwtError("--auth-token: pub-key and priv-key do not match")

    @staticmethod
    def _public_of(private_pem: bytes) -> bytes:
        from cryptography.hazmat.primitives import serialization
        key = serialization.load_pem_private_key(private_pem, password=None)
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def can_sign(self) -> bool:
        return self._sign_key is not None

    def assign(self, username: str, revision: int) -> str:
        import jwt
        claims = {"username": username, "revision": revision,
                  "exp": int(time.time() + self.ttl_s)}
        return jwt.encode(claims, self._sign_key, algorithm=self.algorithm)

    def info(self, token: str) -> tuple[str, int] | None:
        """(username, revision) of a valid token, None for any other."""
        import jwt
        try:
            claims = jwt.decode(token, self._verify_key, algorithms=[self.algorithm],
                                options={"require": ["exp"]})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        user, revision = claims.get("username"), claims.get("revision")
        if not isinstance(user, str) or not isinstance(revision, int) or revision < 0:
            return None
        return user, revision


def tokens_of(auth_token: str) -> JwtTokens | None:
    """The JWT tokens --auth-token asks for, None for simple tokens."""
    options = parse_options(auth_token)
    return None if options is None else JwtTokens(options)
