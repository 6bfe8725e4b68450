"""GraphQL documents and small clients the tests share."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.helpers import gql

CREATE = """mutation($input: CreateUploadInput!) {
  createUpload(input: $input) { id status partSizeBytes partCount expiresAt video { id status } }
}"""
SIGN = """mutation($id: ID!, $parts: [Int!]!) {
  signUploadParts(uploadId: $id, partNumbers: $parts) { partNumber url expiresAt }
}"""
UPLOAD = """query($id: ID!) {
  upload(id: $id) { id status parts { partNumber sizeBytes etag } video { id status } }
}"""
COMPLETE = """mutation($id: ID!, $parts: [CompletedPartInput!]!) {
  completeUpload(uploadId: $id, parts: $parts) { id status sizeBytes video { id status } }
}"""
ABORT = "mutation($id: ID!) { abortUpload(uploadId: $id) { id status } }"
SIGN_UP = """mutation($email: String!, $password: String!, $name: String!) {
  signUp(email: $email, password: $password, displayName: $name) {
    accessToken refreshToken accessTokenExpiresAt viewer { id email displayName }
  }
}"""
LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(email: $email, password: $password) { accessToken refreshToken viewer { id } }
}"""
REFRESH = """mutation($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken }
}"""
LOG_OUT = "mutation($token: String) { logOut(refreshToken: $token) }"
VIEWER = "{ viewer { id email displayName } }"
PASSWORD = "correct horse battery staple"
ORIGIN = "http://localhost:5173"
SUBSCRIBE = """subscription($id: ID!) {
  videoProcessing(videoId: $id) { videoId status step progress message }
}"""


async def sign_up(client: httpx.AsyncClient, email: str | None = None) -> dict[str, Any]:
    body = await gql(
        client,
        SIGN_UP,
        {
            "email": email or f"{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD,
            "name": "Ada",
        },
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["signUp"]
    return payload


async def put_part(url: str, data: bytes) -> str:
    async with httpx.AsyncClient() as s3:
        response = await s3.put(url, content=data)
    assert response.status_code == 200, response.text
    return response.headers["etag"].strip('"')
