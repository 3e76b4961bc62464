"""JWT tokens (stages/api/jwt_tokens.py): what is accepted and what is forged."""
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from petcd.stages.api.jwt_tokens import JwtError, JwtTokens, parse_options


def _rsa_pair(tmp_path, stem: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv, pub = tmp_path / f"{stem}.key", tmp_path / f"{stem}.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(priv), str(pub)


def test_options_are_etcds():
    assert parse_options("simple") is None
    assert parse_options("jwt,pub-key=a,priv-key=b,sign-method=RS256,ttl=10m") == {
        "pub-key": "a", "priv-key": "b", "sign-method": "RS256", "ttl": "10m"}
    with pytest.raises(JwtError):
        parse_options("jwt,color=red")
    with pytest.raises(JwtError):
        parse_options("paseto")


def test_a_signed_token_carries_user_and_revision_and_forgeries_fail(tmp_path):
    priv, pub = _rsa_pair(tmp_path, "k")
    t = JwtTokens({"priv-key": priv, "pub-key": pub, "sign-method": "RS256", "ttl": "1m"})
    token = t.assign("alice", 7)
    assert t.info(token) == ("alice", 7)
    claims = {"username": "root", "revision": 7, "exp": int(time.time()) + 60}
    assert t.info(jwt.encode(claims, None, algorithm="none")) is None  # alg: none
    other, _ = _rsa_pair(tmp_path, "other")
    assert t.info(jwt.encode(claims, open(other, "rb").read(), algorithm="RS256")) is None
    # the public key used as an HMAC secret (key confusion), signed by hand
    head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    signing = head.rstrip(b"=") + b"." + body.rstrip(b"=")
    mac = hmac.new(open(pub, "rb").read(), signing, hashlib.sha256).digest()
    forged = (signing + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    assert t.info(forged) is None
    expired = {**claims, "exp": int(time.time()) - 10}
    assert t.info(jwt.encode(expired, open(priv, "rb").read(), algorithm="RS256")) is None
    assert t.info(token + "x") is None and t.info("abc.def") is None


def test_verify_only_keys_and_bad_settings(tmp_path):
    priv, pub = _rsa_pair(tmp_path, "k")
    signer = JwtTokens({"priv-key": priv, "sign-method": "RS256"})  # public key derived
    verifier = JwtTokens({"pub-key": pub, "sign-method": "RS256"})
    assert not verifier.can_sign and verifier.info(signer.assign("u", 1)) == ("u", 1)
    _, other_pub = _rsa_pair(tmp_path, "other")
    with pytest.raises(JwtError, match="do not match"):
        JwtTokens({"priv-key": priv, "pub-key": other_pub, "sign-method": "RS256"})
    with pytest.raises(JwtError, match="invalid auth method"):
        JwtTokens({"priv-key": priv, "sign-method": "XX1"})
    with pytest.raises(JwtError, match="none"):
        JwtTokens({"priv-key": priv, "sign-method": "none"})
    secret = tmp_path / "secret"
    secret.write_bytes(b"a shared secret of some length!!")
    h = JwtTokens({"priv-key": str(secret), "sign-method": "HS256"})
    assert h.info(h.assign("u", 3)) == ("u", 3)
