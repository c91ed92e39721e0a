"""A local HTTP server for checkpoints given by URL: the files of a folder on 127.0.0.1, and the ways a real
download goes wrong.

    with CheckpointServer(folder) as server:
        server.url('epoch_1.pth')               # the file
        server.url('b1k/model.pth')             # a file in a subfolder (repositories that share file names)
        server.url('epoch_1.pth', 'truncated')  # its full Content-Length, then half of the body
        server.url('epoch_1.pth', 'html')       # 200 with an HTML login page instead of the file
        server.url('absent.pth')                # 404
        server.requests                         # the paths asked for, in order
"""
import http.server
import os
import threading
import urllib.parse
from typing import List

MODES = ('html', 'truncated')
LOGIN_PAGE = b'<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Sign in to continue</body></html>\n'


class CheckpointServer:
    """Serves ``folder`` on 127.0.0.1 (a free port) from a background thread while the ``with`` block runs."""

    def __init__(self, folder: str):
        self.folder = folder
        self.requests: List[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                mode, _, name = self.path.lstrip('/').partition('/')
                if mode not in MODES:
                    mode, name = '', self.path.lstrip('/')
                parts = urllib.parse.unquote(name).split('/')
                path = os.path.join(server.folder, *parts)
                if mode == 'html':
                    return self._send(200, LOGIN_PAGE, 'text/html')
                if '..' in parts or not os.path.isfile(path):
                    return self._send(404, b'not found', 'text/plain')
                with open(path, 'rb') as f:
                    body = f.read()
                if mode == 'truncated':
                    return self._send(200, body[:len(body) // 2], 'application/octet-stream', length=len(body))
                self._send(200, body, 'application/octet-stream')

            def _send(self, status, body, kind, length=None):
                self.send_response(status)
                self.send_header('Content-Type', kind)
                self.send_header('Content-Length', str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):  # quiet: the tests read the requests list
                pass

        self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, name: str, mode: str = '') -> str:
        """The URL of ``name`` in the folder, served as ``mode`` ('' whole, 'truncated', 'html')."""
        return f'http://127.0.0.1:{self.port}/{mode + "/" if mode else ""}{name}'

    def __enter__(self) -> 'CheckpointServer':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
