"""``make e2e-aws`` calls a real account only when the user opts in with a name prefix and
credentials; otherwise it refuses with one line and exit status 2, before any AWS call."""

from __future__ import annotations

import pytest

from tests.e2e import aws


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("E2E_AWS_PREFIX", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(aws, "execute", lambda options: pytest.fail("it must not run"))


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_without_a_prefix_it_refuses(
    no_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert aws.main([]) == 2
    assert "opt in with E2E_AWS_PREFIX" in _one_line(capsys)


def test_without_credentials_it_refuses(
    no_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert aws.main(["--prefix", "me-e2e"]) == 2
    assert "no AWS credentials found" in _one_line(capsys)


def test_a_bad_prefix_is_refused(no_credentials: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert aws.main(["--prefix", "Not_OK"]) == 2
    assert "must be 2 to 20 lowercase" in _one_line(capsys)


def test_the_run_itself_refuses_without_opting_in(no_credentials: None) -> None:
    with pytest.raises(ValueError, match="opt in"):
        aws.Run(aws.Options(prefix=""))
