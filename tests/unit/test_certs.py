"""The admission webhook's self-signed serving certificate: an apiserver
trusting the CA must accept it for the hosts it was made for."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from astra_token_operator.certs import ServingCertificate, make_serving_certificate

NOW = datetime(2030, 1, 1, tzinfo=UTC)
# The Web PKI profile plus one allowance: the apiserver (Go's crypto/x509) does
# not require an authority key identifier, so neither does this check.
APISERVER_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
HOSTS = ["127.0.0.1", "::1", "localhost", "webhook.astra-token-operator.svc"]


@pytest.fixture(scope="module")
def serving() -> ServingCertificate:
    return make_serving_certificate(HOSTS, now=NOW)


def certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def verify_for(serving: ServingCertificate, host: str, at: datetime = NOW) -> None:
    """Verify as a TLS client would for `host`; raises when it would refuse."""
    subject: x509.verification.Subject
    try:
        subject = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    verifier = (PolicyBuilder().store(Store([certificate(serving.ca_pem)])).time(at)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=APISERVER_EE_POLICY)
                .build_server_verifier(subject))
    verifier.verify(certificate(serving.cert_pem), [])


@pytest.mark.parametrize("host", HOSTS)
def test_the_server_certificate_verifies_against_the_ca_for_each_host(serving: ServingCertificate,
                                                                      host: str) -> None:
    verify_for(serving, host)


@pytest.mark.parametrize("host", ["10.0.0.1", "example.com", "other.astra-token-operator.svc"])
def test_the_certificate_is_refused_for_hosts_it_was_not_made_for(serving: ServingCertificate, host: str) -> None:
    with pytest.raises(x509.verification.VerificationError):
        verify_for(serving, host)


def test_the_sans_hold_ips_as_ips_and_names_as_dns_names(serving: ServingCertificate) -> None:
    san = certificate(serving.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "webhook.astra-token-operator.svc"]


def test_the_certificate_is_for_server_authentication_only(serving: ServingCertificate) -> None:
    usage = certificate(serving.cert_pem).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_ca_is_a_ca_and_the_server_certificate_is_not(serving: ServingCertificate) -> None:
    ca = certificate(serving.ca_pem).extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca.ca
    cert = certificate(serving.cert_pem).extensions
    with pytest.raises(x509.ExtensionNotFound):
        cert.get_extension_for_class(x509.BasicConstraints)


def test_the_private_key_matches_the_certificate(serving: ServingCertificate) -> None:
    key = serialization.load_pem_private_key(serving.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == certificate(serving.cert_pem).public_key()


def test_the_certificate_is_valid_from_just_before_now_for_the_period_asked() -> None:
    made = make_serving_certificate(["localhost"], valid_for=timedelta(days=30), now=NOW)
    cert = certificate(made.cert_pem)
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)  # tolerates a little clock skew
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)
    verify_for(made, "localhost", at=NOW + timedelta(days=29))
    with pytest.raises(x509.verification.VerificationError):
        verify_for(made, "localhost", at=NOW + timedelta(days=31))


def test_each_call_makes_a_fresh_ca() -> None:
    first, second = make_serving_certificate(["localhost"], now=NOW), make_serving_certificate(["localhost"], now=NOW)
    assert first.ca_pem != second.ca_pem
    assert first.key_pem != second.key_pem


def test_a_long_service_dns_name_gets_a_certificate() -> None:
    """A Service's DNS name can be far longer than the 64 characters a subject
    common name may hold; the name belongs in the SANs, where it can be 253."""
    host = "astra-token-operator-webhook.platform-security-tokens-production-eu-west-1.svc.cluster.local"
    assert len(host) > 64
    verify_for(make_serving_certificate([host], now=NOW), host)


def test_the_files_are_written_with_a_private_key_only_the_owner_reads(serving: ServingCertificate,
                                                                       tmp_path: Path) -> None:
    ca, cert, key = serving.write(tmp_path / "certs")
    assert (ca.name, cert.name, key.name) == ("ca.crt", "tls.crt", "tls.key")
    assert (ca.read_bytes(), cert.read_bytes(), key.read_bytes()) == (serving.ca_pem, serving.cert_pem,
                                                                      serving.key_pem)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_key_file_left_readable_by_others_is_made_private_when_rewritten(serving: ServingCertificate,
                                                                           tmp_path: Path) -> None:
    key = tmp_path / "tls.key"
    key.write_bytes(b"old")
    key.chmod(0o644)
    serving.write(tmp_path)
    assert key.read_bytes() == serving.key_pem
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
