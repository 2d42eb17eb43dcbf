"""No personal data in the logs at any level: the real Anthropic SDK, pointed at the local
Messages-API server, classifies a passport whose holder's name and MRZ are planted, in a
process whose logging is set up as every ``compliance`` process sets it up
(``compliance.log_setup``) at DEBUG; nothing of the document reaches the log output.

A control run with plain DEBUG logging shows the SDK does write the document's text into the
log, so the test would catch the leak if the set-up let it through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSPORT = (PROJECT_ROOT / "samples" / "documents" / "passport_halvorsen.txt").read_text(
    encoding="utf-8"
)
PLANTED_NAME = "QUENTARELLO"
PLANTED = PASSPORT.replace("HALVORSEN", PLANTED_NAME)
MRZ_LINE_2 = PLANTED.strip().splitlines()[-1]
assert PLANTED_NAME in PLANTED and MRZ_LINE_2.startswith("X71K42Q90")

# Classifies the passport text given on stdin with the real SDK against the local server.
CLASSIFY = """
import logging, os, sys
from pydantic import SecretStr
from compliance import log_setup
from compliance.classification.llm import ClaudeClassifier, client_for
from tests.support.messages_stub import MessagesStub
from compliance.config import Settings

if os.environ["LOGGING"] == "compliance":
    log_setup.configure("DEBUG")
else:
    logging.basicConfig(level="DEBUG")
text = sys.stdin.read()
with MessagesStub() as stub:
    settings = Settings(anthropic_api_key=SecretStr("test-key"), anthropic_base_url=stub.base_url)
    result = ClaudeClassifier(settings, client_for(settings)).classify(text, "sha-planted")
logging.getLogger("compliance.test").debug("classified as %s", result.document_type)
"""


def classify_with_logging(logging_setup: str, **extra_env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLASSIFY],
        input=PLANTED,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LOGGING": logging_setup, **extra_env},
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_plain_debug_logging_would_write_the_document_into_the_log() -> None:
    output = classify_with_logging("plain")
    assert PLANTED_NAME in output
    assert "classified as passport" in output


@pytest.mark.parametrize("anthropic_log", ["", "debug"])
def test_at_debug_no_name_or_mrz_of_a_document_reaches_the_log(anthropic_log: str) -> None:
    output = classify_with_logging("compliance", ANTHROPIC_LOG=anthropic_log)
    # DEBUG is on (our own debug line), and the clients still log what they did, at INFO...
    [ours] = [line for line in output.splitlines() if "classified as passport" in line]
    assert "DEBUG" in ours
    assert "HTTP Request: POST" in output
    # ...but nothing of what they sent or received.
    assert PLANTED_NAME not in output
    assert PLANTED_NAME.title() not in output
    assert MRZ_LINE_2 not in output
    assert "X71K42Q90" not in output
    assert "INGRID" not in output
