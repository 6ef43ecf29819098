import httpx


async def test_token_then_me(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    created = await client.post("/users", json={"username": "bob", "password": "hunter2hunter2"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    token = await client.post("/auth/token", data={"username": "bob", "password": "hunter2hunter2"})
    assert token.status_code == 200, token.text
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["username"] == "bob"
    assert me.headers["x-request-id"]
