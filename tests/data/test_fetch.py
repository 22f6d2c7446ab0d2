"""`tripwire data fetch` against a real local S3 server (moto) laid out like Hyperliquid's archive."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from tests.data.archive_bucket import DAY, archive_objects, free_port, moto_s3
from tests.fixtures import REPO
from tripwire.cli import main
from tripwire.data import layout
from tripwire.data.fetch import ArchiveObject, FetchError, download, fetch_all, make_client, part_path, plan

JAN1 = dt.date(2024, 1, 1)


@pytest.fixture(scope="module")
def s3_url():
    with moto_s3() as url:
        yield url


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def objects():
    return archive_objects()


def client_recording_headers(url: str) -> tuple[object, list[dict[str, str]]]:
    """A client made as the command makes it, plus every request's headers as sent on the wire."""
    client = make_client(url)
    sent: list[dict[str, str]] = []

    def record(request, **_):
        sent.append({k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3.*", record)
    return client, sent


def test_a_complete_day_is_fetched_byte_identical_and_every_request_pays_as_requester(s3_url, creds, tmp_path, objects):
    client, sent = client_recording_headers(s3_url)
    p = plan(client, layout.wanted(JAN1, JAN1, ["BTC", "ETH"], ["l2Book", "asset_ctxs"]))
    assert p.missing == [] and len(p.objects) == 49
    assert p.bytes == sum(len(b) for b in objects.values())
    result = fetch_all(client, p.objects, tmp_path)
    assert len(result.downloaded) == 49
    for key, body in objects.items():
        assert (tmp_path / key).read_bytes() == body
    assert not list(tmp_path.rglob("*.part"))
    assert sent and all(h.get("x-amz-request-payer") == "requester" for h in sent)
    # a listing per day for the books, per month for the contexts: not one request per object
    assert p.list_requests == 2


def test_a_second_run_skips_complete_files_without_fetching_them_again(s3_url, creds, tmp_path):
    client, sent = client_recording_headers(s3_url)
    p = plan(client, layout.wanted(JAN1, JAN1, ["BTC"], ["asset_ctxs", "l2Book"]))
    fetch_all(client, p.objects, tmp_path)
    sent.clear()
    again = fetch_all(client, p.objects, tmp_path)
    assert len(again.skipped) == 25 and not again.downloaded and sent == []


def test_an_interrupted_download_resumes_from_its_part_file_with_a_range_request(s3_url, creds, tmp_path, objects):
    key = f"market_data/{DAY}/12/l2Book/BTC.lz4"
    client, sent = client_recording_headers(s3_url)
    [obj] = plan(client, [w for w in layout.wanted(JAN1, JAN1, ["BTC"], ["l2Book"]) if w.key == key]).objects
    dest = tmp_path / key
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(objects[key][:100_000])
    sent.clear()
    assert download(client, obj, dest) == "resumed"
    assert dest.read_bytes() == objects[key]
    [get] = sent
    assert get["range"] == "bytes=100000-" and get["if-match"] == obj.etag


def test_a_part_file_with_wrong_bytes_fails_the_md5_check_and_is_fetched_again_whole(s3_url, creds, tmp_path, objects):
    key = f"asset_ctxs/{DAY}.csv.lz4"
    client, sent = client_recording_headers(s3_url)
    [obj] = plan(client, layout.wanted(JAN1, JAN1, [], ["asset_ctxs"])).objects
    assert obj.md5 is not None  # a single-part upload: the ETag is the MD5
    dest = tmp_path / key
    dest.parent.mkdir(parents=True)
    part_path(dest).write_bytes(b"\0" * 100)  # the right length of the wrong bytes
    sent.clear()
    assert download(client, obj, dest) == "downloaded"
    assert dest.read_bytes() == objects[key]
    assert [h.get("range") for h in sent] == ["bytes=100-", None]


def test_a_download_shorter_than_the_listing_is_refused_and_leaves_no_file(s3_url, creds, tmp_path, objects):
    key = f"asset_ctxs/{DAY}.csv.lz4"
    client = make_client(s3_url)
    [listed] = plan(client, layout.wanted(JAN1, JAN1, [], ["asset_ctxs"])).objects
    bigger = ArchiveObject(listed.bucket, listed.key, listed.size + 10, listed.etag, listed.kind)
    with pytest.raises(FetchError, match=r"the listing says"):
        download(client, bigger, tmp_path / key)
    assert not (tmp_path / key).exists() and not part_path(tmp_path / key).exists()


def test_a_multipart_etag_is_checked_by_size_only():
    obj = ArchiveObject("b", "k", 10, '"0123456789abcdef0123456789abcdef-3"', "l2Book")
    assert obj.md5 is None
    assert ArchiveObject("b", "k", 10, '"0123456789abcdef0123456789abcdef"', "l2Book").md5 is not None


def test_dry_run_lists_the_objects_and_prices_them_without_downloading(s3_url, creds, tmp_path, capsys):
    out = tmp_path / "archive"
    argv = ["data", "fetch", "--start", "2024-01-01", "--coins", "BTC", "ETH", "--kinds", "l2Book", "asset_ctxs"]
    code = main([*argv, "--out", str(out), "--endpoint-url", s3_url, "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0
    assert "found 49 objects" in text and "0 not in the archive" in text
    assert f"s3://hyperliquid-archive/market_data/{DAY}/12/l2Book/BTC.lz4" in text
    assert "estimated cost to you (requester pays): $" in text and "49 GET" in text and "2 LIST" in text
    assert not out.exists()


def test_the_command_fetches_reports_missing_days_and_exits_1(s3_url, creds, tmp_path, capsys, objects):
    out = tmp_path / "archive"
    argv = ["data", "fetch", "--start", "2024-01-01", "--end", "2024-01-02", "--kinds", "asset_ctxs"]
    code = main([*argv, "--out", str(out), "--endpoint-url", s3_url, "--no-progress"])
    text = capsys.readouterr().out
    assert code == 1
    assert "missing: s3://hyperliquid-archive/asset_ctxs/20240102.csv.lz4" in text
    assert (out / f"asset_ctxs/{DAY}.csv.lz4").read_bytes() == objects[f"asset_ctxs/{DAY}.csv.lz4"]


def test_no_credentials_is_a_clear_error_before_any_request(monkeypatch, tmp_path, capsys):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # an endpoint nothing listens on: had a request been made, the error would be another one
    code = main(["data", "fetch", "--start", "2024-01-01", "--endpoint-url", f"http://127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no AWS credentials found" in err and "requester-pays" in err


def test_bad_dates_and_kinds_are_usage_errors(capsys):
    assert main(["data", "fetch", "--start", "2024-02-30"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["data", "fetch", "--start", "2024-01-02", "--end", "2024-01-01"]) == 2
    assert "before start" in capsys.readouterr().err


@pytest.fixture
def s3_enforcing_auth():
    """A moto server process that checks IAM: the first two actions (make a user, its key) are free."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_access_denied_names_the_requester_pays_permissions(s3_enforcing_auth, monkeypatch, capsys):
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=s3_enforcing_auth, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    iam.create_user(UserName="no-s3")
    key = iam.create_access_key(UserName="no-s3")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    code = main(["data", "fetch", "--start", "2024-01-01", "--endpoint-url", s3_enforcing_auth, "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "access denied" in err and "s3:GetObject" in err and "requester-pays" in err


def test_node_fill_hours_are_fetched_from_the_node_bucket_and_absent_hours_reported(s3_url, creds, tmp_path):
    client, sent = client_recording_headers(s3_url)
    p = plan(client, layout.wanted(JAN1, JAN1, [], ["node_fills_by_block"]))
    assert [o.uri for o in p.objects] == [f"s3://hl-mainnet-node-data/node_fills_by_block/hourly/{DAY}/12.lz4"]
    assert len(p.missing) == 23 and p.list_requests == 1
    fetch_all(client, p.objects, tmp_path)
    assert (tmp_path / p.objects[0].key).stat().st_size == p.objects[0].size
    assert all(h.get("x-amz-request-payer") == "requester" for h in sent)
