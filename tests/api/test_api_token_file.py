"""The admin token from the TOML's `[http] token_file` (never the token itself in the TOML); the environment
wins over it."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from api_support import free_port, wait_for

from gateway import config as gateway_config
from gateway.api import api_token, serve
from gateway.daemon import Daemon
from gateway.errors import InvalidInput


@pytest.fixture
def no_env_token(monkeypatch):
    monkeypatch.delenv("REVERBERE_API_TOKEN", raising=False)
    monkeypatch.delenv("REVERBERE_API_TOKEN_FILE", raising=False)
    return monkeypatch


def _toml(tmp_path, token_file, port=8780):
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[database]\nurl = "sqlite:///%s"\n[http]\nlisten = "127.0.0.1:%d"\ntoken_file = "%s"\n'
        '[broker]\nclient_id = "t-tok-%s"\nsites = ["tok%s"]\nsession_expiry_s = 0\n'
        % (tmp_path / "inventory.db", port, token_file, uuid.uuid4().hex[:8], uuid.uuid4().hex[:8])
    )
    return str(path)


def test_token_file_key_is_read_and_the_environment_wins(tmp_path, no_env_token):
    secret = tmp_path / "api-token"
    secret.write_text("from-the-file\n")
    config = gateway_config.load(_toml(tmp_path, secret))
    assert config.api_token_file == str(secret)
    assert "from-the-file" not in repr(config)  # the configuration holds the path, not the token
    assert api_token(config.api_token_file) == "from-the-file"
    no_env_token.setenv("REVERBERE_API_TOKEN", "from-the-env")
    assert api_token(config.api_token_file) == "from-the-env"
    env_file = tmp_path / "env-token"
    env_file.write_text("from-the-env-file")
    no_env_token.setenv("REVERBERE_API_TOKEN_FILE", str(env_file))
    assert api_token(config.api_token_file) == "from-the-env-file"


def test_unreadable_token_file_is_a_clear_error(tmp_path, no_env_token):
    with pytest.raises(InvalidInput, match=r"\[http\] token_file .*missing"):
        api_token(str(tmp_path / "missing"))
    assert api_token(None) is None


def test_daemon_takes_its_admin_token_from_the_file(tmp_path, no_env_token):
    secret = tmp_path / "api-token"
    secret.write_text("s3cret-" + uuid.uuid4().hex)
    port = free_port()
    config = gateway_config.load(_toml(tmp_path, secret, port))
    subscribed = threading.Event()

    def hook(daemon, host, port):
        daemon.ingest.client.on_subscribe = lambda *_: subscribed.set()
        return serve(daemon, host, port)

    daemon = Daemon(config, http_hook=hook)
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    try:
        url = "http://127.0.0.1:%d/api/v1/devices/c0ffee000001/approve" % port
        wait_for(lambda: subscribed.is_set() and daemon._http is not None, what="gateway and API up")
        assert httpx.post(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        # The right token passes authentication; the device does not exist, hence 404.
        answer = httpx.post(url, headers={"Authorization": "Bearer " + secret.read_text()})
        assert answer.status_code == 404
    finally:
        daemon.stop()
        runner.join(15)
