def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Shape what we build next" in response.data


def test_signed_in_person_sees_their_name(client, login_as):
    user = login_as("customer", display_name="Zed Example")
    response = client.get("/account")
    assert response.status_code == 200
    assert b"Zed Example" in response.data
    assert user.email.encode() in response.data
