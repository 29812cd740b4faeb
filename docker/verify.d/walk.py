#!/usr/bin/env python3
"""The README's walk-through against a running service, as a user does it with curl:
register (the first account is the ADMIN), register a user, verify through the link in the
email the SMTP sink received, log in, upload a picture, fetch it, /readyz, /docs.

Usage: walk.py BASE_URL MAIL_DIR      Exits non-zero with a message on the first failure."""
import email
import email.policy
import glob
import json
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib

BASE, MAIL_DIR = sys.argv[1].rstrip("/"), sys.argv[2]
PASSWORD = "Secur3*Passw0rd"


def fail(message):
    sys.exit("walk: " + message)


def request(method, path, body=None, headers=None, expect=200):
    url = path if path.startswith("http") else BASE + path
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, data, head = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, data, head = error.code, error.read(), error.headers
    if status != expect:
        fail(f"{method} {url}: {status}, expected {expect}: {data[:500]!r}")
    print(f"  {method} {path if len(path) < 70 else path[:67] + '...'} -> {status}")
    return data, head


def post_json(path, payload, token=None, expect=200):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data, _ = request("POST", path, json.dumps(payload).encode(), headers, expect)
    return json.loads(data)


def png(width, height):
    """A small RGB PNG with a gradient, written by hand (no imaging library on the host)."""
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def link_in_mail(recipient, pattern, wait=60):
    deadline = time.time() + wait
    while time.time() < deadline:
        for path in sorted(glob.glob(os.path.join(MAIL_DIR, "*.eml"))):
            with open(path, "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            if recipient not in str(message["To"]):
                continue
            body = message.get_body(preferencelist=("plain", "html"))
            match = re.search(pattern, body.get_content())
            if match:
                return match.group(0)
        time.sleep(0.5)
    fail(f"no email to {recipient} with a link matching {pattern} within {wait} s in {MAIL_DIR}")


def main():
    request("GET", "/healthz")
    admin = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    user = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    post_json("/register", {"email": admin, "password": PASSWORD}, expect=201)
    ada = post_json("/register", {"email": user, "password": PASSWORD, "first_name": "Ada"}, expect=201)
    link = link_in_mail(user, r"https?://[^\s\"<>]+/verify-email/[^\s\"<>]+")
    request("GET", link)
    login = post_json("/login", {"email": user, "password": PASSWORD})
    token = login["access_token"]
    me, _ = request("GET", "/me", headers={"Authorization": "Bearer " + token})
    me = json.loads(me)
    if me["id"] != ada["id"] or me["role"] != "AUTHENTICATED":
        fail(f"/me after verification: {me}")

    picture = png(64, 48)
    boundary = "um-verify-" + uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + picture + f"\r\n--{boundary}--\r\n".encode()
    data, _ = request(
        "POST",
        "/me/profile-picture",
        body,
        {"Authorization": "Bearer " + token, "Content-Type": "multipart/form-data; boundary=" + boundary},
    )
    url = json.loads(data)["profile_picture_url"]
    if not url:
        fail("no profile_picture_url after the upload")
    # The URL is built on PUBLIC_BASE_URL; fetch it through the published port.
    path = "/" + url.split("/", 3)[3]
    served, head = request("GET", path)
    if not head["Content-Type"].startswith("image/") or len(served) < 100:
        fail(f"the picture came back as {head['Content-Type']}, {len(served)} bytes")
    request("GET", "/readyz")
    docs, _ = request("GET", "/docs")
    if b"swagger" not in docs.lower():
        fail("/docs is not the Swagger UI")
    print("  the walk-through passed")


main()
