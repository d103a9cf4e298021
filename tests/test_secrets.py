"""No credential lands in what this project writes, and the scanner would notice if one did."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.secrets import MCP_FIXTURE_TOKEN, scan_paths, scan_text

REPO = Path(__file__).resolve().parent.parent
WRITTEN = [REPO / "cassettes", REPO / "reports"]


def test_cassettes_and_reports_hold_no_secret() -> None:
    findings = scan_paths([p for p in WRITTEN if p.exists()])
    assert not findings, "secrets found:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize("planted", [
    "authorization:\n      - Bearer abcdefghijklmnop123",
    "authorization:\n      - abcdefghijklmnop123",
    '{"api_key": "sk-proj-abcdefghijklmnopqrstuv"}',
    '"headers": {"Authorization": "Bearer live-token-42xyz"}',
    f'"authorization": "{MCP_FIXTURE_TOKEN}"',
], ids=["bearer-in-vcr-header", "raw-value-in-vcr-header", "api-key", "mcp-header", "mcp-authorization"])
def test_a_planted_secret_in_a_cassette_is_found(tmp_path: Path, planted: str) -> None:
    cassette = tmp_path / "cassettes" / "p" / "m" / "test.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(f"interactions:\n- request:\n    headers:\n      {planted}\n")
    assert scan_paths([tmp_path / "cassettes"]), f"the scanner missed {planted!r}"


@pytest.mark.parametrize("clean", [
    "authorization:\n      - REDACTED",
    '"headers": {"Authorization": "REDACTED"}',
    "api_key: sk-no-key-needed",
], ids=["redacted-vcr-header", "redacted-mcp-header", "placeholder-key"])
def test_redacted_values_are_not_findings(clean: str) -> None:
    assert scan_text(clean) == []


def test_a_rendered_transcript_carries_no_mcp_credential() -> None:
    from fixtures.capture import Exchange

    body = {"tools": [{"type": "mcp", "server_label": "s", "authorization": MCP_FIXTURE_TOKEN,
                       "headers": {"Authorization": f"Bearer {MCP_FIXTURE_TOKEN}"}}]}
    exchange = Exchange("POST", "http://x/v1/responses", body, {"authorization": "REDACTED"})
    assert scan_text(exchange.render()) == []


def test_an_echoed_credential_is_marked_when_recorded_and_still_found_on_replay() -> None:
    """A recorded answer never holds the MCP token, yet its echo stays detectable (LiteLLM quotes it)."""
    from fixtures.cassettes import _before_record_response
    from fixtures.secrets import ECHOED_CREDENTIAL, MCP_FIXTURE_TOKEN, holds_credential

    body = f'{{"error": {{"message": "Unsupported tool: {{\\"authorization\\": \\"{MCP_FIXTURE_TOKEN}\\"}}"}}}}'
    recorded = _before_record_response({"headers": {}, "body": {"string": body.encode()}})
    text = recorded["body"]["string"].decode()
    assert MCP_FIXTURE_TOKEN not in text and ECHOED_CREDENTIAL in text
    assert holds_credential(text, MCP_FIXTURE_TOKEN)
    assert not holds_credential('{"output": []}', MCP_FIXTURE_TOKEN)
