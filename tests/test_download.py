"""Finding, downloading and verifying dataset files, against a local HTTP server on 127.0.0.1:
downloaded, verified, kept; a second call does not download; tampered files are refused; mirrors,
retries, and the offline message. Also `optlab data list / download` and `optlab train` offline."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from datafiles import idx_files, mnist_like, sha256, spec_with, write
from typer.testing import CliRunner

from optlab.cli import app
from optlab.data import download
from optlab.data.download import locate, presence
from optlab.data.errors import ChecksumMismatch, DatasetUnavailable, UnverifiedFiles
from optlab.data.sources import SPECS

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch):
    monkeypatch.delenv("OPTLAB_DATA_DIR", raising=False)


class Server:
    """Serves ``files`` (URL path -> bytes); ``errors`` (path -> list of status codes) are answered
    first, one per request; every request is recorded in ``hits``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.errors: dict[str, list[int]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                pending = server.errors.get(self.path)
                if pending:
                    self.send_error(pending.pop(0))
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def mnist_files():
    return idx_files(mnist_like())


def serve(server: Server, files: dict[str, bytes], prefix: str = "/mnist/") -> None:
    for name, data in files.items():
        server.files[prefix + name] = data


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]     # nothing listens here once the socket is closed


def test_download_verifies_keeps_and_does_not_download_twice(tmp_path, server, mnist_files):
    serve(server, mnist_files)
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    located = locate(spec, tmp_path)
    assert sorted(server.hits) == sorted(f"/mnist/{n}" for n in mnist_files)
    assert located.folder == tmp_path / "mnist" and located.verified
    for name, data in mnist_files.items():
        assert (tmp_path / "mnist" / name).read_bytes() == data, "kept under its original name"
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(mnist_files), "no temporary files left"
    again = locate(spec, tmp_path)
    assert len(server.hits) == 4, "a second call finds the verified files and downloads nothing"
    assert again.paths == located.paths and again.fingerprint == located.fingerprint


def test_tampered_download_is_refused_and_deleted(tmp_path, server, mnist_files):
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    tampered = dict(mnist_files)
    name = "train-labels-idx1-ubyte.gz"
    tampered[name] = mnist_files[name][:-8] + b"\0" * 8
    serve(server, tampered)
    with pytest.raises(ChecksumMismatch) as err:
        locate(spec, tmp_path)
    message = str(err.value)
    assert name in message and sha256(mnist_files[name]).split(":")[1] in message
    assert sha256(tampered[name]).split(":")[1] in message, "both hashes are named"
    assert not (tmp_path / "mnist" / name).exists(), "the tampered download is never kept"


def test_present_file_with_wrong_hash_is_never_used(tmp_path, server, mnist_files):
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    files = dict(mnist_files)
    files["t10k-images-idx3-ubyte.gz"] = b"\x1f\x8b" + b"x" * 100
    write(tmp_path / "mnist", files)
    with pytest.raises(ChecksumMismatch, match=r"t10k-images-idx3-ubyte.gz(.|\n)*expected SHA256 (.|\n)*actual"):
        locate(spec, tmp_path)
    assert server.hits == [], "a mismatching file is reported, not silently replaced"
    assert presence(spec, tmp_path).state == "corrupt"


def test_only_missing_files_are_downloaded(tmp_path, server, mnist_files):
    serve(server, mnist_files)
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    write(tmp_path / "mnist", {n: d for n, d in mnist_files.items() if "train" in n})
    assert presence(spec, tmp_path).state == "incomplete"
    locate(spec, tmp_path)
    assert sorted(server.hits) == ["/mnist/t10k-images-idx3-ubyte.gz", "/mnist/t10k-labels-idx1-ubyte.gz"]
    assert presence(spec, tmp_path).state == "verified"


def test_mirrors_in_order_and_transient_errors_retried(tmp_path, server, mnist_files, monkeypatch):
    import dataclasses

    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    serve(server, mnist_files, prefix="/mirror/")
    spec = spec_with("mnist", mnist_files)
    source = spec.sources[0]
    files = tuple(dataclasses.replace(f, urls=(f"{server.url}/gone/{f.name}", f"{server.url}/mirror/{f.name}"))
                  for f in source.files)
    spec = dataclasses.replace(spec, sources=(dataclasses.replace(source, files=files),))
    server.errors["/mirror/train-images-idx3-ubyte.gz"] = [503]          # a server hiccup: retried
    locate(spec, tmp_path)
    assert server.hits[:3] == ["/gone/train-images-idx3-ubyte.gz", "/mirror/train-images-idx3-ubyte.gz",
                               "/mirror/train-images-idx3-ubyte.gz"], "404: next mirror; 503: same URL again"
    assert presence(spec, tmp_path).state == "verified"


def test_offline_names_dataset_files_directory_and_how_to_place_them(tmp_path, mnist_files):
    spec = spec_with("mnist", mnist_files, base_url=f"http://127.0.0.1:{closed_port()}/mnist/")
    with pytest.raises(DatasetUnavailable) as err:
        locate(spec, tmp_path)
    message = str(err.value)
    assert "dataset 'mnist'" in message and f"directory searched: {tmp_path / 'mnist'}" in message
    for name in mnist_files:
        assert name in message
    assert "Connection refused" in message or "connection refused" in message
    assert "To place the files by hand" in message and "OPTLAB_DATA_DIR" in message


def test_read_only_data_directory_is_never_written(tmp_path, server, mnist_files):
    serve(server, mnist_files)
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    (tmp_path / "ro").mkdir(mode=0o555)
    try:
        with pytest.raises(DatasetUnavailable, match="the directory is read-only"):
            locate(spec, tmp_path / "ro")
        assert list((tmp_path / "ro").iterdir()) == [] and server.hits == []
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_nowhere_to_download_from(tmp_path, mnist_files):
    with pytest.raises(DatasetUnavailable, match="no download location is known"):
        locate(spec_with("mnist", mnist_files), tmp_path)


def test_files_without_published_checksum_need_opt_in(tmp_path):
    """Uncompressed Fashion-MNIST has no published checksum: refused unless allow_unverified."""
    arrays = mnist_like()
    write(tmp_path / "fashion_mnist", idx_files(arrays, gz=False))
    spec = SPECS["fashion_mnist"]
    with pytest.raises(UnverifiedFiles, match="no checksum is published(.|\n)*allow_unverified: true"):
        locate(spec, tmp_path)
    located = locate(spec, tmp_path, allow_unverified=True)
    assert not located.verified and located.source.kind == "idx"
    assert presence(spec, tmp_path).state == "unverified"


def test_uncompressed_mnist_is_verified_by_its_own_checksums(tmp_path):
    """The real table verifies uncompressed MNIST too; files that are not MNIST fail it."""
    write(tmp_path / "mnist", idx_files(mnist_like(), gz=False))
    with pytest.raises(ChecksumMismatch, match="train-images-idx3-ubyte"):
        locate(SPECS["mnist"], tmp_path, download=False)


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def test_cli_download_then_list(tmp_path, server, mnist_files, monkeypatch):
    serve(server, mnist_files)
    monkeypatch.setitem(SPECS, "mnist", spec_with("mnist", mnist_files, base_url=server.url + "/mnist/"))
    result = runner.invoke(app, ["data", "download", "mnist", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "mnist: 4 files verified in" in result.output and len(server.hits) == 4
    again = runner.invoke(app, ["data", "download", "mnist", "--root", str(tmp_path)])
    assert again.exit_code == 0 and len(server.hits) == 4, "already there: nothing downloaded"
    listing = runner.invoke(app, ["data", "list", "--root", str(tmp_path)])
    assert listing.exit_code == 0, listing.output
    lines = {line.split("│")[1].strip(): line for line in listing.output.splitlines() if line.count("│") > 3}
    assert "verified" in lines["mnist"] and "missing" in lines["cifar10"] and "generated" in lines["spiral"]


def test_cli_download_unknown_name_exits_2(tmp_path):
    result = runner.invoke(app, ["data", "download", "minst", "--root", str(tmp_path)])
    assert result.exit_code == 2 and "did you mean 'mnist'" in result.output


def test_train_offline_exits_1_with_the_message_and_no_run_dir(tmp_path, mnist_files, monkeypatch):
    monkeypatch.setitem(SPECS, "mnist", spec_with("mnist", mnist_files,
                                                  base_url=f"http://127.0.0.1:{closed_port()}/mnist/"))
    config = tmp_path / "m.yaml"
    config.write_text("data: {name: mnist, val_size: 10}\nmodel: linear\nloss: cross_entropy\n"
                      "train: {iterations: 2}\n")
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["train", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "dataset 'mnist'" in result.output and "To place the files by hand" in result.output
    assert "Traceback" not in result.output and "Exit" not in result.output, "one message, said once"
    assert not (tmp_path / "runs").exists(), "nothing trained, no run directory"
    write(tmp_path / "data" / "mnist", mnist_files)          # placed by hand: now it trains
    result = runner.invoke(app, ["train", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 0, result.output


def test_download_progress_bar_drives_rich(tmp_path, server, mnist_files):
    """The pooch progress protocol (total, update, reset, close) reaches a rich bar on a terminal."""
    from rich.console import Console

    serve(server, mnist_files)
    spec = spec_with("mnist", mnist_files, base_url=server.url + "/mnist/")
    console = Console(file=open(tmp_path / "out.txt", "w"), force_terminal=True, width=100)
    locate(spec, tmp_path / "data", console=console)
    console.file.close()
    out = (tmp_path / "out.txt").read_text()
    assert "downloading mnist/train-images-idx3-ubyte.gz from" in out and "train-images-idx3-ubyte.gz" in out
    assert np.all([(tmp_path / "data" / "mnist" / n).is_file() for n in mnist_files])
