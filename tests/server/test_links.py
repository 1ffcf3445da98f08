"""Which links may reach a human."""

from __future__ import annotations

import pytest

from opentrain_mcp.server.links import UntrustedLinkError, vet_link

REAL = "https://app.opentrain.ai"
SANDBOX = "http://127.0.0.1:8787"


@pytest.mark.parametrize(
    ("url", "origin", "approval_id"),
    [
        ("https://app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai:443/approvals/abc123", REAL, "abc123"),
        ("http://127.0.0.1:8787/approvals/abc123", SANDBOX, "abc123"),
        ("https://app.opentrain.ai/claim", REAL, None),
        ("https://app.opentrain.ai/settings/billing?tab=cards", REAL, None),
        ("http://localhost:80/approvals/abc123", "http://localhost", "abc123"),
        ("HTTPS://App.OpenTrain.ai/approvals/abc123", REAL, "abc123"),
    ],
)
def test_trusted(url, origin, approval_id):
    assert vet_link(url, trusted_origin=origin, kind="approvalUrl", approval_id=approval_id) == url


@pytest.mark.parametrize(
    ("url", "origin", "approval_id"),
    [
        ("https://evil.example/approvals/abc123", REAL, "abc123"),
        ("http://app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai.evil.example/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai@evil.example/approvals/abc123", REAL, "abc123"),
        ("https://user:pw@app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://user@app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://:pw@app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://@app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai:99999/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai:https/approvals/abc123", REAL, "abc123"),
        ("https://app.opentrain.ai/approvals/other", REAL, "abc123"),
        ("https://app.opentrain.ai/approvals/abc123/../../logout", REAL, "abc123"),
        ("https://app.opentrain.ai/approvals/abc123?next=https://evil", REAL, "abc123"),
        ("https://app.opentrain.ai/approvals/abc123#x", REAL, "abc123"),
        ("https://app.opentrain.ai:8443/approvals/abc123", REAL, "abc123"),
        ("javascript:alert(1)", REAL, "abc123"),
        ("https://app.opentrain.ai/approvals/abc123\n", REAL, "abc123"),
        ("//app.opentrain.ai/approvals/abc123", REAL, "abc123"),
        ("http://127.0.0.1:9999/approvals/abc123", SANDBOX, "abc123"),
        ("http://10.0.0.1:8787/approvals/abc123", "http://10.0.0.1:8787", "abc123"),
        ("", REAL, "abc123"),
        (None, REAL, "abc123"),
        ("https://app.opentrain.ai/claim?next=https://evil.example", REAL, None),
        ("https://app.opentrain.ai/claim?next=https%3A%2F%2Fevil.example", REAL, None),
        ("https://app.opentrain.ai/claim?next=//evil.example", REAL, None),
        ("https://app.opentrain.ai/settings/billing?x=javascript:alert(1)", REAL, None),
        ("https://app.opentrain.ai/settings/billing\u202egnp.exe", REAL, None),
        ("https://app.opentrain.ai/settings/billing%E2%80%AEgnp.exe", REAL, None),
        ("https://app.opentrain.ai/claim?tab=%00", REAL, None),
        ("https://app.opentrain.ai\uff0fevil.example/claim", REAL, None),
        ("https://app.opentrain.ai\u2100evil/claim", REAL, None),
        ("https://\uff41pp.opentrain.ai/claim", REAL, None),
    ],
)
def test_untrusted(url, origin, approval_id):
    with pytest.raises(UntrustedLinkError):
        vet_link(url, trusted_origin=origin, kind="approvalUrl", approval_id=approval_id)


def test_malformed_hosts_are_a_verdict_not_a_crash():
    with pytest.raises(UntrustedLinkError) as bad:
        vet_link("https://app.opentrain.ai\uff0fevil.example/claim", trusted_origin=REAL, kind="claimUrl")
    assert "non-ASCII" in bad.value.why
    with pytest.raises(UntrustedLinkError) as bad:
        vet_link("https://app.opentrain.ai:99999/claim", trusted_origin=REAL, kind="claimUrl")
    assert bad.value.why == "the link is malformed"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (None, "the API sent no link"),
        ("", "the API sent no link"),
        (
            "https://app.opentrain.ai/approvals/abc123 ",
            "the link contains non-ASCII, whitespace or control characters",
        ),
        ("https://evil.example/approvals/abc123", f"it does not point to {REAL}"),
        ("https://user@app.opentrain.ai/approvals/abc123", "it carries credentials"),
        ("https://app.opentrain.ai/approvals/abc123?x=1", "it is not the page of approval abc123"),
        ("https://app.opentrain.ai/claim?next=https://evil.example", "its query carries another link"),
        ("https://app.opentrain.ai/claim?https://evil.example", "its query carries another link"),
        ("https://app.opentrain.ai/claim?a=1&//evil.example", "its query carries another link"),
        ("https://app.opentrain.ai/claim?www.evil.example=", "its query carries another link"),
    ],
)
def test_the_reason_names_what_is_wrong(url, why):
    """The reason reaches the model and the human in the SECURITY notice, so it must be the true one."""
    approval_id = None if url and "/claim" in url else "abc123"
    with pytest.raises(UntrustedLinkError) as err:
        vet_link(url, trusted_origin=REAL, kind="approvalUrl", approval_id=approval_id)
    assert err.value.why == why and err.value.kind == "approvalUrl" and err.value.trusted_origin == REAL
    assert str(err.value) == f"approvalUrl withheld: {why}"


def test_plain_http_is_refused_even_on_a_matching_non_loopback_origin():
    with pytest.raises(UntrustedLinkError) as err:
        vet_link("http://10.0.0.1:8787/x", trusted_origin="http://10.0.0.1:8787", kind="claimUrl")
    assert err.value.why == "it is not https"
